// The rest of gantry's commands without root (issue 20, docs/rootless.md), as
// the users of rootless_fixture.h on their default store: an OCI layout
// export/import round trip, push/pull through a real docker-registry on
// loopback (digests equal to root's), `gantry secret set` read by a stage
// (masked), an environment's export: into the runner's export_dir, `gantry
// watch --once` picking a new commit, and a stage reaching its service by name.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/registry/local_registry.h"
#include "tests/rootless/rootless_fixture.h"

namespace gantry::testing {
namespace {

using nlohmann::json;

json parsed(const CommandResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  try {
    return json::parse(r.out);
  } catch (const json::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\n" << r.out << r.err;
    return json::object();
  }
}

// The digest of the manifest skopeo reads at a reference.
std::string manifest_digest(const std::string& ref) {
  auto r = run_command({"sh", "-c", "skopeo inspect --tls-verify=false --raw \"$0\" | sha256sum", ref});
  return r.exit_code == 0 ? "sha256:" + r.out.substr(0, 64) : "skopeo failed: " + r.err;
}

std::string image_digest(const json& run, const std::string& name = "app") {
  if (run.contains("images"))
    for (const auto& i : run["images"])
      if (i.value("name", "") == name) return i.value("digest", "");
  return "";
}

class RootlessCommandsTest : public RootlessTest {
 protected:
  // A git repository with `files` made by root under the scratch dir, and
  // the user's copy of it (same commit) at $HOME/<name>; the user's path.
  std::string user_repo(const std::string& name, const std::vector<std::pair<std::string, std::string>>& files) {
    std::string dir = scratch_ / ("src-" + name);
    for (const auto& [path, text] : files) write_file(dir + "/" + path, text);
    auto r = run_shell("set -e; cd '" + dir + "'; git init -q -b main; git add -A; "
                       "git -c user.name=t -c user.email=t@example.org commit -q -m first");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    give_copy(dir, user_->home() + "/" + name, *user_);
    return user_->home() + "/" + name;
  }
  // A file of root's, handed to the user.
  std::string user_file(const std::string& name, const std::string& text, mode_t mode = 0600) {
    std::string path = user_->home() + "/" + name;
    write_file(path, text);
    EXPECT_EQ(::chown(path.c_str(), user_->uid(), static_cast<gid_t>(-1)), 0);
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }
  json user_json(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    return parsed(user_->gantry(args, env));
  }
  std::size_t user_runs() {
    auto h = user_json({"history", "--json", "-n", "1000"});
    return h.contains("runs") ? h["runs"].size() : 0;
  }
};

// image export writes an OCI layout of the user's image; importing it into
// another store of the user's gives the same digest, and the image runs.
TEST_P(RootlessCommandsTest, ExportImportOciLayoutKeepsTheDigest) {
  std::string digest = user_busybox();
  ASSERT_EQ(digest, root_busybox());
  auto exported = user_->gantry({"image", "export", "busybox", "layout"});
  ASSERT_EQ(exported.exit_code, 0) << exported.out << exported.err;
  struct stat st {};
  ASSERT_EQ(::stat((user_->home() + "/layout/index.json").c_str(), &st), 0) << "no OCI layout written";
  EXPECT_EQ(st.st_uid, user_->uid());

  auto imported = user_->gantry({"--store", user_->home() + "/other", "image", "import", "layout", "copy:1"});
  ASSERT_EQ(imported.exit_code, 0) << imported.out << imported.err;
  EXPECT_EQ(first_digest(imported.out), digest) << imported.out;
  auto ran = user_->gantry({"--store", user_->home() + "/other", "exec", "copy:1", "--", "sh", "-c", "echo ran-$((6*7))"});
  EXPECT_EQ(ran.exit_code, 0) << ran.err;
  EXPECT_NE(ran.out.find("ran-42"), std::string::npos) << ran.out;
  // Root imports the user's layout: the same image.
  ScratchDir root_store;
  auto root_import = run_gantry(root_store / "s", {"image", "import", user_->home() + "/layout", "copy:1"});
  ASSERT_EQ(root_import.exit_code, 0) << root_import.err;
  EXPECT_EQ(first_digest(root_import.out), digest);
}

// push/pull through a real registry on loopback (plain http, named in
// GANTRY_INSECURE_REGISTRIES): the registry holds root's digest, the user's
// pull into an empty store gets it back and runs it.
TEST_P(RootlessCommandsTest, PushPullThroughALoopbackRegistryKeepsRootsDigest) {
  LocalRegistry registry;
  ASSERT_EQ(registry.error(), "");
  std::string digest = user_busybox();
  ASSERT_EQ(digest, root_busybox());
  const std::vector<std::string> env = {"GANTRY_INSECURE_REGISTRIES=" + registry.host()};
  const std::string ref = registry.host() + "/rootless/busybox:1";
  auto pushed = user_json({"image", "push", "busybox", ref, "--json"}, env);
  EXPECT_EQ(pushed.value("digest", ""), digest) << pushed.dump();
  EXPECT_EQ(manifest_digest("docker://" + ref), digest);

  auto pulled = user_json({"--store", user_->home() + "/pulled", "image", "pull", ref, "--json"}, env);
  EXPECT_EQ(pulled.value("digest", ""), digest) << pulled.dump();
  auto ran = user_->gantry({"--store", user_->home() + "/pulled", "exec", ref, "--", "true"}, env);
  EXPECT_EQ(ran.exit_code, 0) << ran.err;
  auto fsck = user_->gantry({"--store", user_->home() + "/pulled", "fsck", "--deep"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
  // Root pulls what the user pushed: the same digest.
  ScratchDir root_store;
  auto root_pull = run_command({gantry_binary(), "--store", root_store / "s", "image", "pull", ref, "--json"}, env);
  ASSERT_EQ(root_pull.exit_code, 0) << root_pull.err;
  EXPECT_EQ(json::parse(root_pull.out).value("digest", ""), digest);
}

// gantry secret set as the user: the store's secrets are the user's (0700,
// 0600), a stage gets the value, its log shows it masked, and no file of the
// store holds it.
TEST_P(RootlessCommandsTest, SecretSetIsReadByAStageAndMasked) {
  ASSERT_FALSE(user_busybox().empty());
  const std::string value = "rl-Tok3n-" + std::to_string(::getpid());
  user_file("value.in", value + "\n");
  std::string repo = user_repo("secret-repo", {{".gantry.yml",
                                                "stages:\n  use:\n    image: busybox\n    secrets: [API_TOKEN]\n"
                                                "    run:\n      - test ${#API_TOKEN} = " +
                                                    std::to_string(value.size()) +
                                                    "\n      - echo \"token is $API_TOKEN\"\n"}});
  auto set = user_->run({"sh", "-c", "\"$0\" secret set API_TOKEN --project secret-repo < value.in", gantry_binary()});
  ASSERT_EQ(set.exit_code, 0) << set.out << set.err;
  EXPECT_EQ(set.out.find(value), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat((user_->store() + "/secrets").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, user_->uid());
  ASSERT_EQ(::stat((user_->store() + "/secrets/values.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, user_->uid());

  auto run = user_json({"run", "secret-repo", "--json"});
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  auto logs = user_->gantry({"logs", run.value("id", ""), "use"});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_NE(logs.out.find("token is ***\n"), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find(value), std::string::npos) << logs.out;
  auto grep = run_command({"grep", "-r", "-a", "-l", "-F", "--", value, user_->store()});
  EXPECT_EQ(grep.out, "") << "the value reached the store";
  (void)repo;
}

// An environment's export: as the user writes an OCI archive of the promoted
// digest into the runner's export_dir, owned by the user.
TEST_P(RootlessCommandsTest, EnvironmentExportWritesTheArchiveIntoTheExportDir) {
  ASSERT_FALSE(user_busybox().empty());
  const std::string out = user_->home() + "/releases";
  std::string config = user_file("runner.yml", "projects:\n  \"*\": {export_dir: " + out + "}\n", 0644);
  user_repo("export-repo", {{".gantry.yml",
                             "images:\n  app: {from: busybox, steps: [{run: 'echo 1 > /v'}]}\n"
                             "stages:\n  unit: {image: app, run: cat /v}\n"
                             "environments:\n  - test\n  - {name: staging, export: \"staging/{image}.tar\"}\n"}});
  auto run = user_json({"--runner-config", config, "run", "export-repo", "--json"});
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  const std::string archive = out + "/staging/app.tar";
  struct stat st {};
  ASSERT_EQ(::stat(archive.c_str(), &st), 0) << archive << " was not written";
  EXPECT_EQ(st.st_uid, user_->uid());
  EXPECT_EQ(manifest_digest("oci-archive:" + archive + ":staging"), image_digest(run));
}

// gantry watch --once as the user: the first one records the tip, the next
// one runs the commit made after it, and a third one has nothing to run.
TEST_P(RootlessCommandsTest, WatchOncePicksANewCommit) {
  ASSERT_FALSE(user_busybox().empty());
  std::string repo = user_repo("watched", {{".gantry.yml", "stages:\n  unit: {image: busybox, run: cat /workspace/n}\n"},
                                           {"n", "0\n"}});
  auto first = user_->gantry({"watch", "watched", "--branch", "main", "--once"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_EQ(user_runs(), 0u) << "the tip at the first watch is not run";
  auto committed = user_->run({"sh", "-c",
                               "cd watched && echo 1 > n && git add n && "
                               "git -c user.name=u -c user.email=u@example.org commit -q -m n1 && git rev-parse HEAD"});
  ASSERT_EQ(committed.exit_code, 0) << committed.err;
  auto second = user_->gantry({"watch", "watched", "--branch", "main", "--once"});
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  auto history = user_json({"history", "--json"});
  ASSERT_EQ(history["runs"].size(), 1u) << history.dump(2);
  EXPECT_EQ(history["runs"][0].value("commit", ""), trim(committed.out));
  EXPECT_EQ(history["runs"][0].value("status", ""), "passed");
  auto third = user_->gantry({"watch", "watched", "--branch", "main", "--once"});
  ASSERT_EQ(third.exit_code, 0) << third.out << third.err;
  EXPECT_EQ(user_runs(), 1u);
  (void)repo;
}

// services: as the user, the stage reaches its service by name and on
// 127.0.0.1 (the service's network namespace is shared with the stage).
TEST_P(RootlessCommandsTest, StageReachesItsServiceByName) {
  ASSERT_FALSE(user_busybox().empty());
  user_repo("svc-repo", {{".gantry.yml",
                          "stages:\n"
                          "  web:\n"
                          "    image: busybox\n"
                          "    run:\n"
                          "      - wget -q -O - http://www:8080/index.html\n"
                          "      - wget -q -O - http://127.0.0.1:8080/index.html\n"
                          "    services:\n"
                          "      - name: www\n"
                          "        image: busybox\n"
                          "        command: 'mkdir -p /srv && echo served-by-www > /srv/index.html && "
                          "exec httpd -f -p 8080 -h /srv'\n"
                          "        ready: {tcp: 8080}\n"
                          "        timeout: 20s\n"}});
  auto run = user_json({"run", "svc-repo", "--json"});
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  auto logs = user_->gantry({"logs", run.value("id", ""), "web"});
  std::size_t first = logs.out.find("served-by-www");
  ASSERT_NE(first, std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("served-by-www", first + 1), std::string::npos) << logs.out;
}

// gantry serve as the user, on a loopback port: a run queued through the API
// (bearer token) runs and passes; SIGTERM stops the server and nothing of
// the user is left (TearDown).
TEST_P(RootlessCommandsTest, ServeRunsARunQueuedThroughItsApi) {
  ASSERT_FALSE(user_busybox().empty());
  std::string repo = user_repo("served", {{".gantry.yml", "stages:\n  unit: {image: busybox, run: echo served-run}\n"}});
  const std::string token = "rl-token-" + std::to_string(::getpid());
  user_file("token", token + "\n");
  auto started = user_->run({"sh", "-c",
                             "\"$0\" serve --listen 127.0.0.1:0 --repo acme/app=\"$1\" --token-file token "
                             "</dev/null >serve.log 2>&1 & echo $!",
                             gantry_binary(), repo});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  const pid_t pid = static_cast<pid_t>(std::stol(trim(started.out)));
  struct Stop {  // the server goes with the test, whatever happens
    pid_t pid;
    ~Stop() {
      ::kill(pid, SIGTERM);
      for (int i = 0; i < 300 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (::kill(pid, 0) == 0) ::kill(pid, SIGKILL);
    }
  } stop{pid};
  std::string url;
  const std::regex listening("listening on (http://[0-9.]+:[0-9]+)");
  for (int i = 0; i < 300 && url.empty(); ++i) {
    std::smatch m;
    std::string log = ::access((user_->home() + "/serve.log").c_str(), R_OK) == 0
                          ? read_file_or_die(user_->home() + "/serve.log")
                          : std::string();
    if (std::regex_search(log, m, listening)) url = m[1];
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(url.empty()) << read_file_or_die(user_->home() + "/serve.log");

  auto queued = run_command({"curl", "-sS", "-X", "POST", "-H", "Authorization: Bearer " + token, "-H",
                             "Content-Type: application/json", "--data", R"({"repo": "acme/app"})",
                             url + "/api/v1/runs"});
  ASSERT_EQ(queued.exit_code, 0) << queued.err;
  std::string id = json::parse(queued.out).value("id", "");
  ASSERT_FALSE(id.empty()) << queued.out;
  std::string status;
  for (int i = 0; i < 600; ++i) {
    auto r = run_command({"curl", "-sS", url + "/api/v1/runs/" + id});
    status = r.exit_code == 0 ? json::parse(r.out).value("status", "") : "";
    if (status == "passed" || status == "failed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, "passed") << read_file_or_die(user_->home() + "/serve.log");
  auto log = run_command({"curl", "-sS", url + "/api/v1/runs/" + id + "/stages/unit/log"});
  EXPECT_NE(log.out.find("served-run"), std::string::npos) << log.out;
  // The run is in the user's store.
  auto shown = user_->gantry({"show", id, "--json"});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
}

// Issue 10.5 without root: gantry is root of its user namespace, which is the
// user on the host, so a link inside export_dir to the user's own files (an
// ssh key) must not be written through either; the same export with nothing
// in the way lands below export_dir.
TEST_P(RootlessCommandsTest, ExportThroughASymlinkInsideTheExportDirWritesNothingOutside) {
  ASSERT_FALSE(user_busybox().empty());
  const std::string keys = user_->home() + "/keys", out = user_->home() + "/releases";
  const std::string key = "rl-key-" + std::to_string(::getpid()) + "\n";
  ASSERT_EQ(::mkdir(keys.c_str(), 0700), 0);
  ASSERT_EQ(::chown(keys.c_str(), user_->uid(), static_cast<gid_t>(-1)), 0);
  user_file("keys/id_ed25519", key);
  ASSERT_EQ(::mkdir(out.c_str(), 0755), 0);
  ASSERT_EQ(::symlink(keys.c_str(), (out + "/link").c_str()), 0);
  ASSERT_EQ(::symlink((keys + "/id_ed25519").c_str(), (out + "/leaf.tar").c_str()), 0);
  auto owned = run_command({"chown", "-hR", std::to_string(user_->uid()), out});
  ASSERT_EQ(owned.exit_code, 0) << owned.err;
  std::string config = user_file("runner.yml", "projects:\n  \"*\": {export_dir: " + out + "}\n", 0644);
  auto listing = [&] { return run_command({"find", keys, "-printf", "%P %y %s %m %u %T@\\n"}).out; };
  const std::string before = listing();
  ASSERT_NE(before.find("id_ed25519 f"), std::string::npos) << before;
  int n = 0;
  for (const char* path : {"link/app.tar", "leaf.tar", "link", "ok/app.tar"}) {
    std::string name = "exp" + std::to_string(n++);
    user_repo(name, {{".gantry.yml", std::string("stages:\n  unit: {image: busybox, run: 'true'}\n"
                                                 "environments:\n  - test\n  - name: staging\n    export: '") +
                                         path + "'\n"}});
    auto run = user_->gantry({"--runner-config", config, "run", name, "--json"});
    if (std::string(path) == "ok/app.tar") {
      EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
      struct stat st {};
      EXPECT_EQ(::lstat((out + "/ok/app.tar").c_str(), &st), 0);
      EXPECT_TRUE(S_ISREG(st.st_mode));
      continue;
    }
    EXPECT_NE(run.exit_code, 0) << path << ": " << run.out;
    EXPECT_NE((run.out + run.err).find("symlink"), std::string::npos) << path << ": " << run.out << run.err;
    EXPECT_EQ(read_file_or_die(keys + "/id_ed25519"), key) << path;
    EXPECT_EQ(listing(), before) << path << ": the user's key dir changed";
  }
}

INSTANTIATE_TEST_SUITE_P(Rootless, RootlessCommandsTest, ::testing::Values(Ids::subordinate, Ids::single), ids_name);

}  // namespace
}  // namespace gantry::testing
