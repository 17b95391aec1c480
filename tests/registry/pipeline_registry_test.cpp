// A pipeline meets the registry: `from:` (and a stage's `image:`) naming an
// image in the loopback registry is pulled on demand into an empty store;
// an environment's `push:` target receives the promoted image with the
// digest that was tested, before the environment's pointer moves.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "tests/registry/local_registry.h"
#include "tests/registry/test_images.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

using nlohmann::json;

class PipelineRegistry : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(registry_.error(), "");
    base_ = registry_.host() + "/team/base:1";
    repo_ = dir_ / "repo";
  }
  // Commits `files` (path -> content) to the test repository.
  void commit(const std::map<std::string, std::string>& files) {
    for (const auto& [path, content] : files) write_file(repo_ + "/" + path, content);
    auto git = run_shell("set -e; cd " + repo_ + "; [ -d .git ] || git init -q; git add -A; " +
                         "git -c user.name=t -c user.email=t@t commit -q -m change");
    ASSERT_EQ(git.exit_code, 0) << git.err;
  }
  // Pushes a busybox image made in the seed store to base_; returns its digest.
  std::string seed_base() {
    Digest d = make_test_image(dir_ / "seed", "base:1", 1024, 71);
    auto push = run_gantry(dir_ / "seed", {"image", "push", "base:1", base_});
    EXPECT_EQ(push.exit_code, 0) << push.err;
    return d.str();
  }
  static std::map<std::string, std::string> environments(const std::string& store, const std::string& image) {
    std::map<std::string, std::string> out;
    auto r = run_gantry(store, {"env", "ls", image, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code != 0) return out;
    for (const auto& e : json::parse(r.out)) out[e.value("environment", "")] = e.value("digest", "");
    return out;
  }
  static std::string image_digest(const json& run, const std::string& name) {
    for (const auto& i : run["images"])
      if (i.value("name", "") == name) return i.value("digest", "");
    return "";
  }
  LocalRegistry registry_;
  ScratchDir dir_;
  std::string base_;
  std::string repo_;
};

TEST_F(PipelineRegistry, BuildFromARegistryImagePullsItIntoAnEmptyStore) {
  GANTRY_REQUIRE_ROOT();
  const std::string base_digest = seed_base();
  commit({{".gantry.yml", "images:\n  app:\n    from: " + base_ +
                              "\n    steps:\n      - run: sh /app/hello.sh > /app/out.txt\n"},
          {"README", "x\n"}});
  const std::string store = dir_ / "b";  // empty: never saw the base
  auto build = run_gantry(store, {"build", repo_});  // plain output: the notes
  ASSERT_EQ(build.exit_code, 0) << build.err << build.out;
  EXPECT_NE(build.out.find("pulled " + base_ + " " + base_digest), std::string::npos) << build.out;
  EXPECT_EQ(resolve_in_store(store, base_), base_digest);  // pulled, named by its reference
  const std::string app = resolve_in_store(store, "app:latest");
  ASSERT_NE(app, "");

  // The built image ran a step on the pulled base.
  auto out = run_gantry(store, {"exec", "app:latest", "--", "cat", "/app/out.txt"});
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(out.out, "hello from the registry\n");

  // A second build uses the stored base: no pull, the same image.
  auto again = run_gantry(store, {"build", repo_, "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out.find("pulled "), std::string::npos) << again.out;
  EXPECT_EQ(json::parse(again.out)["images"][0]["digest"], app);
}

TEST_F(PipelineRegistry, RunPullsRegistryStageImagesAndDigestReferences) {
  GANTRY_REQUIRE_ROOT();
  const std::string base_digest = seed_base();
  const std::string by_digest = registry_.host() + "/team/base@" + base_digest;
  commit({{".gantry.yml", "stages:\n  hello: {image: '" + by_digest + "', run: sh /app/hello.sh}\n"}});
  const std::string store = dir_ / "c";
  auto run = run_gantry(store, {"run", repo_});
  ASSERT_EQ(run.exit_code, 0) << run.err << run.out;
  EXPECT_NE(run.out.find("pulled " + by_digest + " " + base_digest), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("hello from the registry"), std::string::npos) << run.out;
  // Pulled once: the second run finds the digest in the store.
  auto again = run_gantry(store, {"run", repo_, "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err << again.out;
  json record = json::parse(again.out);
  EXPECT_EQ(record.value("status", ""), "passed") << record.dump(2);
  EXPECT_EQ(image_digest(record, by_digest), base_digest) << record.dump(2);
}

TEST_F(PipelineRegistry, UnpullableBaseIsReportedAtItsLineWithThePullError) {
  commit({{".gantry.yml", "images:\n  app:\n    from: " + registry_.host() +
                              "/team/nothing:1\n    steps:\n      - run: true\n"}});
  auto build = run_gantry(dir_ / "d", {"build", repo_});
  EXPECT_NE(build.exit_code, 0);
  EXPECT_NE(build.err.find(".gantry.yml:3:"), std::string::npos) << build.err;
  EXPECT_NE(build.err.find("cannot pull '" + registry_.host() + "/team/nothing:1'"), std::string::npos) << build.err;
  EXPECT_NE(build.err.find("404"), std::string::npos) << build.err;
}

class PromotionPush : public PipelineRegistry {
 protected:
  void pipeline(const std::string& push_target, const std::string& version) {
    commit({{".gantry.yml", "images:\n  app:\n    from: base:1\n    steps:\n      - copy: VERSION /app/VERSION\n"
                            "stages:\n"
                            "  unit: {image: app, run: cat /app/VERSION}\n"
                            "  smoke: {image: app, environment: staging, run: cat /app/VERSION}\n"
                            "environments:\n"
                            "  - test\n"
                            "  - {name: staging, push: '" +
                                push_target + "'}\n"},
            {"VERSION", version + "\n"}});
  }
  void SetUp() override {
    PipelineRegistry::SetUp();
    store_ = dir_ / "a";
    make_test_image(store_, "base:1", 1024, 72);
  }
  // The runner's config: project "repo" (the repository's directory name)
  // may push below these prefixes.
  void allow_push(const std::vector<std::string>& prefixes) {
    std::string list;
    for (const auto& p : prefixes) list += (list.empty() ? "" : ", ") + p;
    write_file(dir_ / "runner.yml", "projects:\n  repo: {push: [" + list + "]}\n");
  }
  // gantry --store store_ --runner-config <runner.yml> ARGS...
  CommandResult gantry(std::vector<std::string> args) {
    args.insert(args.begin(), {"--runner-config", dir_ / "runner.yml"});
    return run_gantry(store_, args);
  }
  std::string store_;
};

TEST_F(PromotionPush, StagingPushHasTheTestedDigestAndARepeatUploadsNoBlob) {
  GANTRY_REQUIRE_ROOT();
  const std::string target = registry_.host() + "/team/app:staging";
  allow_push({registry_.host() + "/team"});
  pipeline(target, "1.0");
  auto first = gantry({"run", repo_});  // plain output: the notes
  ASSERT_EQ(first.exit_code, 0) << first.err << first.out;
  auto envs = environments(store_, "app");
  const std::string digest = envs["test"];
  ASSERT_NE(digest, "");
  EXPECT_EQ(envs["staging"], digest);
  EXPECT_EQ(skopeo_manifest_digest("docker://" + target), digest);
  // config + busybox + data layer of the base + the VERSION layer above, then
  // the run's attestations of the image (docs/attestations.md): more blobs.
  const std::string pushed = "pushed app " + digest + " to " + target + " (";
  const auto at = first.out.find(pushed);
  ASSERT_NE(at, std::string::npos) << first.out;
  EXPECT_GE(std::stoi(first.out.substr(at + pushed.size())), 4) << first.out;

  // The same digest again (a new run of the same commit): only the tag is written.
  auto second = gantry({"run", repo_});
  ASSERT_EQ(second.exit_code, 0) << second.err << second.out;
  EXPECT_NE(second.out.find("pushed app " + digest + " to " + target + " (already there: tag only)"),
            std::string::npos)
      << second.out;
  EXPECT_EQ(environments(store_, "app")["staging"], digest);

  // A third store pulls what staging got: the same digest.
  auto pulled = run_gantry(dir_ / "third", {"image", "pull", target, "--json"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  EXPECT_EQ(json::parse(pulled.out)["digest"], digest);
}

TEST_F(PromotionPush, FailedPushFailsThePromotionAndLeavesThePointer) {
  GANTRY_REQUIRE_ROOT();
  const std::string host = "127.0.0.1:" + std::to_string(free_port());  // nobody listens
  const std::string target = host + "/team/app:staging";
  allow_push({host + "/team/app"});
  pipeline(target, "2.0");
  auto r = gantry({"run", repo_, "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err << r.out;
  json run = json::parse(r.out);
  EXPECT_EQ(run.value("status", ""), "failed");
  EXPECT_NE(run.value("error", "").find(target), std::string::npos) << run.dump(2);
  auto envs = environments(store_, "app");
  EXPECT_EQ(envs["test"], image_digest(run, "app"));
  EXPECT_EQ(envs.count("staging"), 0u);
}

// A TCP listener on 127.0.0.1 that never accepts: the kernel queues every
// connection attempt, so connections() tells whether anyone called.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      ADD_FAILURE() << "listen: " << std::strerror(errno);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  // Connections made so far (taken from the queue).
  int connections() {
    int n = 0;
    for (;;) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return n;
      ::close(c);
      ++n;
    }
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// docs/security.md, "A promotion pushes where the repository says": the
// runner's credentials go only to the references the runner allows.
TEST_F(PromotionPush, PushOutsideTheAllowList_IsRefusedBeforeAnyRequest) {
  GANTRY_REQUIRE_ROOT();
  SilentListener listener;
  allow_push({registry_.host() + "/team", listener.host() + "/team"});
  for (const std::string& target : {registry_.host() + "/teamevil/app:staging", listener.host() + "/teamevil/app:1",
                                    listener.host() + "/other/team/app:1", std::string("127.0.0.1:1/team/app:staging")}) {
    pipeline(target, "3.0");
    auto r = gantry({"run", repo_, "--json"});
    EXPECT_NE(r.exit_code, 0) << target << "\n" << r.err << r.out;
    EXPECT_NE(r.err.find(".gantry.yml:11:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("environments.staging.push: push to " + target + " refused: project 'repo' may push only below " +
                         registry_.host() + "/team, " + listener.host() + "/team"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find(dir_ / "runner.yml"), std::string::npos) << r.err;
  }
  // Nothing was recorded or promoted, and no registry was called.
  auto envs = run_gantry(store_, {"env", "ls", "--json"});
  EXPECT_EQ(json::parse(envs.out), json::array()) << envs.out;
  EXPECT_EQ(listener.connections(), 0);
  EXPECT_FALSE(std::filesystem::exists(registry_.data_dir() + "/docker/registry/v2/repositories"));

  // A runner config without push: nothing may be pushed at all.
  pipeline(listener.host() + "/team/app:staging", "3.0");
  write_file(dir_ / "empty.yml", "limits: {pids: 1024}\n");
  auto none = run_gantry(store_, {"--runner-config", dir_ / "empty.yml", "run", repo_});
  EXPECT_NE(none.exit_code, 0) << none.out;
  EXPECT_NE(none.err.find("may push only below none"), std::string::npos) << none.err;
  EXPECT_EQ(listener.connections(), 0);
}

}  // namespace
}  // namespace gantry::testing
