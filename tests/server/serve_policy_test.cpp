// `gantry serve` and the runs it starts, against a live server: the signing
// key given to the server (--signing-key) signs the runs' attestations while
// its content stays out of every argv and log.
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

}  // namespace
}  // namespace gantry::testing
