// `gantry serve` and the runs it starts, against a live server: the signing
// key given to the server (--signing-key) signs the runs' attestations while
// its content stays out of every argv and log; the branches a repository of
// the serve config lists are polled by the server itself, each new commit
// queued once, also across a restart.
#include <dirent.h>

#include <fstream>
#include <set>

#include "tests/server/serve_fixture.h"

namespace gantry::testing {
namespace {

using nlohmann::json;

class ServePolicyTest : public ServeFixture {
 protected:
  void pipeline(const std::string& version, const std::string& unit_script = "cat /VERSION") {
    commit({{".gantry.yml",
             "images:\n  app:\n    from: busybox\n    steps:\n      - copy: VERSION /VERSION\n"
             "stages:\n"
             "  unit: {image: app, run: '" + unit_script + "', cache: false}\n"},
            {"VERSION", version + "\n"}},
           "version " + version);
  }
  // Every process's command line (NUL-separated arguments joined by ' ').
  static std::vector<std::string> command_lines() {
    std::vector<std::string> out;
    DIR* proc = ::opendir("/proc");
    if (!proc) return out;
    while (auto* e = ::readdir(proc)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      std::ifstream in(std::string("/proc/") + e->d_name + "/cmdline", std::ios::binary);
      std::string line((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::replace(line.begin(), line.end(), '\0', ' ');
      if (!line.empty()) out.push_back(line);
    }
    ::closedir(proc);
    return out;
  }
  // The runs the server lists for `commit`.
  std::vector<json> runs_of(const std::string& commit) {
    std::vector<json> out;
    const json list = get("/api/v1/runs?limit=100").json();  // kept alive: the loop reads into it
    for (const auto& r : list["runs"])
      if (r.value("commit", "") == commit) out.push_back(r);
    return out;
  }
  // Waits until the server lists a run of `commit`; returns it (null after the timeout).
  json wait_run_of(const std::string& commit, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      auto runs = runs_of(commit);
      if (!runs.empty()) return runs.front();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return nullptr;
  }
  bool wait_log(const std::string& text, std::chrono::seconds timeout = std::chrono::seconds(20)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (server_log().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
};

TEST_F(ServePolicyTest, SigningKeyFlag_SignsTheRunsAttestations_KeyContentNeverInArgvOrLog) {
  GANTRY_REQUIRE_ROOT();
  ASSERT_EQ(run_command({gantry_binary(), "key", "generate", dir_ / "keys"}).exit_code, 0);
  const std::string key_file = dir_ / "keys/gantry.key";
  const std::string key_text = read_file_or_die(key_file);
  // A line of the key's base64 body: what must never show up anywhere.
  std::string secret_line;
  {
    std::istringstream lines(key_text);
    for (std::string line; std::getline(lines, line);)
      if (!line.starts_with("-----") && line.size() > 20) secret_line = line;
  }
  ASSERT_FALSE(secret_line.empty()) << key_text;

  // A public key cannot sign: the server refuses to start.
  auto bad = run_gantry(store_, {"serve", "--listen", "127.0.0.1:0", "--signing-key", dir_ / "keys/gantry.pub"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("is a public key"), std::string::npos) << bad.err;

  pipeline("1", "sleep 2; cat /VERSION");
  start_server({"--signing-key", key_file});
  auto r = post("/api/v1/runs", {{"repo", "acme/app"}});
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = r.json().value("id", "");
  // While the run's stage sleeps: its process's argv names neither the key nor its content.
  bool seen = false;
  for (int i = 0; i < 200 && !seen; ++i) {
    for (const auto& line : command_lines()) {
      if (line.find("--run-id " + id) == std::string::npos) continue;
      seen = true;
      EXPECT_EQ(line.find(secret_line), std::string::npos) << line;
      EXPECT_EQ(line.find("BEGIN"), std::string::npos) << line;
    }
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(seen) << "the run's process was never seen";
  auto run = wait_run(id, {"passed", "failed"});
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);

  // Signed with the server's key: provenance, SBOM and the passed stage verify.
  auto v = gantry_json({"verify", "app:latest", "--key", dir_ / "keys/gantry.pub", "--json", "--passed", "unit"});
  EXPECT_TRUE(v["summary"].value("ok", false)) << v.dump(2);
  EXPECT_EQ(v["summary"].value("provenance", 0), 1) << v.dump(2);
  EXPECT_GE(v["summary"].value("verified", 0), 3) << v.dump(2);
  EXPECT_EQ(stop_server(), 0);
  const std::string log = server_log();
  EXPECT_EQ(log.find(secret_line), std::string::npos) << log;
  EXPECT_EQ(log.find("PRIVATE KEY"), std::string::npos) << log;
}

TEST_F(ServePolicyTest, PolledBranch_NewCommitQueuesOneRun_RestartQueuesNothingTwice) {
  GANTRY_REQUIRE_ROOT();
  pipeline("1");
  const std::string tip = git({"rev-parse", "HEAD"});
  const std::string config = dir_ / "serve.yml";
  write_file(config, "repos:\n  - {name: polled, path: " + repo_ + ", branches: [main], poll: 200ms}\n");
  start_server({"--config", config});
  // The first poll starts at the tip without running it.
  ASSERT_TRUE(wait_log("polling polled main every 200 ms from " + tip.substr(0, 12))) << server_log();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_TRUE(runs_of(tip).empty());

  pipeline("2");
  const std::string second = git({"rev-parse", "HEAD"});
  auto queued = wait_run_of(second);
  ASSERT_FALSE(queued.is_null()) << get("/api/v1/runs").body << server_log();
  EXPECT_EQ(queued.value("source", ""), "poll");
  EXPECT_EQ(queued.value("branch", ""), "main");
  EXPECT_EQ(queued.value("subject", ""), "version 2");
  auto record = wait_run(queued.value("id", ""), {"passed", "failed"});
  EXPECT_EQ(record.value("status", ""), "passed") << record.dump(2);
  // Polled again and again meanwhile: still one run.
  EXPECT_EQ(runs_of(second).size(), 1u);
  EXPECT_EQ(stop_server(), 0) << server_log();

  // A commit made while the server is down is queued once it is back; the
  // one already run is not queued again.
  pipeline("3");
  const std::string third = git({"rev-parse", "HEAD"});
  start_server({"--config", config});
  auto after = wait_run_of(third);
  ASSERT_FALSE(after.is_null()) << server_log();
  wait_run(after.value("id", ""), {"passed", "failed"});
  EXPECT_EQ(stop_server(), 0) << server_log();

  // As if the server had died between queueing and saving its place: the
  // position moves back to the first tip. The restarted server finds both
  // commits queued or run already and queues nothing.
  auto rewind = run_command(
      {"python3", "-c",
       "import sqlite3, sys\n"
       "db = sqlite3.connect(sys.argv[1])\n"
       "n = db.execute(\"UPDATE watch_positions SET commit_id = ? WHERE repo = 'serve:polled'\", (sys.argv[2],)).rowcount\n"
       "db.commit()\n"
       "sys.exit(0 if n == 1 else 3)\n",
       store_ + "/meta.db", tip});
  ASSERT_EQ(rewind.exit_code, 0) << rewind.err;
  start_server({"--config", config});
  ASSERT_TRUE(wait_log("already queued or run")) << server_log();
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // several more polls
  EXPECT_EQ(runs_of(second).size(), 1u) << get("/api/v1/runs").body;
  EXPECT_EQ(runs_of(third).size(), 1u) << get("/api/v1/runs").body;
  EXPECT_TRUE(runs_of(tip).empty());
  EXPECT_EQ(stop_server(), 0) << server_log();
}

TEST_F(ServePolicyTest, ServeConfig_BadPollSettings_AreRefusedNamingFileLineAndKey) {
  const std::string config = dir_ / "serve.yml";
  write_file(config, "repos:\n  - {name: polled, path: " + repo_ + ", poll: soon}\n");
  auto r = run_gantry(store_, {"serve", "--listen", "127.0.0.1:0", "--config", config});
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("serve.yml:2:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("repos[0].poll"), std::string::npos) << r.err;
  write_file(config, "repos:\n  - {name: polled, path: " + repo_ + ", branches: main}\n");
  r = run_gantry(store_, {"serve", "--listen", "127.0.0.1:0", "--config", config});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("repos[0].branches: expected a list"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gantry::testing
