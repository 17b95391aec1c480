// Secrets with real runs in real containers (issue 10.3, 10.14, 11.2): the
// pipeline names secrets, the runner provides them (its secret store and its
// configuration); values are masked in logs, also encoded; a changed value
// reruns the stages that use it; no value is ever stored.
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <filesystem>

#include "common/unique_fd.h"
#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunSecretsTest : public RunFixture {
 protected:
  // The project the runner derives for the test repository.
  std::string project() const { return std::filesystem::path(repo_).filename().string(); }

  // Writes a runner config; returns the env entry that selects it.
  std::string runner_config(const std::string& yaml) {
    write_file(dir_ / "runner.yml", yaml);
    return "GANTRY_RUNNER_CONFIG=" + dir_ / "runner.yml";
  }

  CommandResult secret_set(const std::string& value, const std::vector<std::string>& args) {
    write_file(dir_ / "value.in", value);
    std::string cmd = "'" + gantry_binary() + "' --store '" + store_ + "' secret";
    for (const auto& a : args) cmd += " '" + a + "'";
    return run_shell(cmd + " < '" + dir_ / "value.in" + "'");
  }

  // Every file of the store that contains `needle` (grep -r -a -l).
  std::string store_files_with(const std::string& needle) {
    auto grep = run_command({"grep", "-r", "-a", "-l", "-F", "--", needle, store_});
    EXPECT_TRUE(grep.exit_code == 0 || grep.exit_code == 1) << grep.err;
    return grep.out;
  }
};

std::string base64(const std::string& text) {
  auto r = run_command({"sh", "-c", "printf %s \"$V\" | base64 -w0"}, {"V=" + text});
  return r.out;
}

std::string hex(const std::string& text) {
  std::string out;
  char buf[3];
  for (unsigned char c : text) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

// Issue 10.3: `{file: ...}` and `{env: ...}` in a pipeline are validation
// errors at their file:line:col, and the named file is never opened (an
// inotify watch on it sees no open).
TEST_F(RunSecretsTest, PipelineChoosingAHostFileOrVariable_FailsValidation_NothingIsRead) {
  write_file(dir_ / "canary", "host-only-canary-value\n");
  int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(in, 0);
  UniqueFd watch_fd(in);
  ASSERT_GE(::inotify_add_watch(in, (dir_ / "canary").c_str(), IN_OPEN | IN_ACCESS), 0);
  commit({{".gantry.yml",
           "stages:\n"
           "  steal:\n"
           "    image: busybox\n"
           "    run: echo \"$SHADOW $CANARY $HOMEDIR\"\n"
           "    secrets:\n"
           "      SHADOW: {file: /etc/shadow}\n"
           "      CANARY: {file: " + dir_ / "canary" + "}\n"
           "      HOMEDIR: {env: HOME}\n"}});
  auto r = run();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  for (const char* where : {".gantry.yml:6:15: stages.steal.secrets.SHADOW: a pipeline names its secrets",
                                   ".gantry.yml:7:15: stages.steal.secrets.CANARY:",
                                   ".gantry.yml:8:16: stages.steal.secrets.HOMEDIR:"})
    EXPECT_NE(r.err.find(where), std::string::npos) << where << "\n" << r.err;
  EXPECT_NE(r.err.find("runner's configuration"), std::string::npos) << r.err;
  EXPECT_EQ(run_count(), 0u);
  char buf[4096];
  ssize_t n = ::read(in, buf, sizeof buf);
  EXPECT_LE(n, 0) << "the canary was opened or read";
  EXPECT_EQ(store_files_with("host-only-canary-value"), "");
}

// Issue 10.3: a runner-config secret bound to production is given to a
// production stage and refused to a test stage, with an error that says why.
TEST_F(RunSecretsTest, RunnerConfigSecretBoundToProduction_IsNotVisibleToATestStage) {
  write_file(dir_ / "deploy-token", "prod-deploy-token-7731\n", 0600);
  auto config = runner_config("projects:\n  " + project() + ":\n    secrets:\n      DEPLOY_TOKEN: {file: " +
                              dir_ / "deploy-token" + ", environments: [production]}\n");
  commit({{".gantry.yml",
           "stages:\n"
           "  unit: {image: busybox, run: 'echo \"unit sees [$DEPLOY_TOKEN]\"', secrets: [DEPLOY_TOKEN]}\n"}});
  auto refused = run({}, {config});
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("secret DEPLOY_TOKEN of stage unit (project " + project() +
                             ", environment test): the runner config " + dir_ / "runner.yml" +
                             " binds DEPLOY_TOKEN to environment production only; this stage runs in test"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(run_count(), 0u);

  commit({{".gantry.yml",
           "stages:\n"
           "  unit: {image: busybox, run: 'test -z \"$DEPLOY_TOKEN\"'}\n"
           "  deploy:\n"
           "    image: busybox\n"
           "    environment: production\n"
           "    secrets: [DEPLOY_TOKEN]\n"
           "    run:\n"
           "      - test ${#DEPLOY_TOKEN} = 22\n"
           "      - echo \"deploying with $DEPLOY_TOKEN\"\n"}});
  auto record = run_json({}, {config});
  ASSERT_EQ(record.value("status", ""), "passed") << record.dump(2);
  // The value reached the stage (it is the one masked), and only there: the
  // pipeline file does not contain it, so the store cannot either.
  auto logs = run_gantry(store_, {"logs", record["id"], "deploy"});
  EXPECT_NE(logs.out.find("deploying with ***\n"), std::string::npos) << logs.out;
  EXPECT_EQ(store_files_with("prod-deploy-token-7731"), "");
}

// Issue 10.3 + 10.14: a value set with `gantry secret set` reaches the stage;
// the stage prints it plainly, base64 (alone and inside a longer stream, at
// every alignment), hex, and split over two writes: every form is masked.
TEST_F(RunSecretsTest, StoreSecret_ReachesTheStage_MaskedPlainEncodedAndSplit) {
  const std::string value = "Tok3n/with+bits?and-more-42";
  auto set = secret_set(value + "\n", {"set", "API_TOKEN", "--project", project()});
  ASSERT_EQ(set.exit_code, 0) << set.out << set.err;
  EXPECT_NE(set.out.find(std::to_string(value.size()) + " bytes"), std::string::npos) << set.out;
  EXPECT_EQ(set.out.find(value), std::string::npos);

  // ls: names, scopes and sizes, never values.
  auto ls = run_gantry(store_, {"secret", "ls", "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.out.find(value), std::string::npos);
  auto list = nlohmann::json::parse(ls.out);
  ASSERT_EQ(list.size(), 1u) << ls.out;
  EXPECT_EQ(list[0]["name"], "API_TOKEN");
  EXPECT_EQ(list[0]["project"], project());
  EXPECT_TRUE(list[0]["environment"].is_null());
  EXPECT_EQ(list[0]["bytes"], value.size());
  struct stat st {};
  ASSERT_EQ(::stat((store_ + "/secrets").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat((store_ + "/secrets/values.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, ::geteuid());

  commit({{".gantry.yml",
           "stages:\n"
           "  leak:\n"
           "    image: busybox\n"
           "    secrets: [API_TOKEN]\n"
           "    run:\n"
           "      - test ${#API_TOKEN} = " + std::to_string(value.size()) + "\n"
           "      - echo \"plain $API_TOKEN\"\n"
           "      - echo \"b64 $(printf %s \"$API_TOKEN\" | base64)\"\n"
           "      - echo \"b64nl $(echo \"$API_TOKEN\" | base64)\"\n"
           "      - echo \"b64s1 $(printf 'x%s' \"$API_TOKEN\" | base64)\"\n"
           "      - echo \"b64s2 $(printf 'xy%s!' \"$API_TOKEN\" | base64)\"\n"
           "      - echo \"hex $(printf %s \"$API_TOKEN\" | od -An -tx1 | tr -d ' \\n')\"\n"
           "      - printf 'split '; printf %s \"$API_TOKEN\" | head -c 9; sleep 0.3; "
           "printf %s \"$API_TOKEN\" | tail -c +10; echo ' end'\n"
           "      - echo \"to stderr $API_TOKEN\" >&2\n"}});
  auto record = run_json();
  ASSERT_EQ(record.value("status", ""), "passed") << record.dump(2);
  auto logs = run_gantry(store_, {"logs", record["id"], "leak"});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  // The value reached the stage: each of these lines is masked only if it printed exactly the value.
  for (const char* line : {"plain ***\n", "b64 ***\n", "hex ***\n", "split *** end\n", "to stderr ***\n"})
    EXPECT_NE(logs.out.find(line), std::string::npos) << line << "\n" << logs.out;
  // No form of the value is left: plain, base64 of it (any 12 characters of
  // its core), hex.
  std::string b = base64(value);
  EXPECT_EQ(logs.out.find(value), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find(b.substr(4, 12)), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find(base64("x" + value).substr(4, 12)), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find(base64("xy" + value).substr(4, 12)), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find(hex(value).substr(0, 16)), std::string::npos) << logs.out;
  EXPECT_EQ(store_files_with(value), "");
  EXPECT_EQ(store_files_with(b.substr(4, 12)), "");

  // rm: the next run has no such secret and says where to set it.
  auto rm = run_gantry(store_, {"secret", "rm", "API_TOKEN", "--project", project()});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  auto missing = run();
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("the runner provides no secret API_TOKEN for project " + project() +
                             " (set it with `gantry secret set API_TOKEN --project " + project() + "`"),
            std::string::npos)
      << missing.err;
}

// Issue 10.3: values have a size limit; a runner-mapped /dev/zero is refused
// with a clear error (and read no further than the limit + 1 byte), and so is
// a too-big `gantry secret set`.
TEST_F(RunSecretsTest, OversizedValues_AreRefused) {
  auto config = runner_config("max_secret_size: 1k\nprojects:\n  \"*\":\n    secrets:\n      ZERO: {file: /dev/zero}\n");
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: true, secrets: [ZERO]}\n"}});
  auto r = run({}, {config});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("secret ZERO of stage unit"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the file /dev/zero holds more than 1024 bytes, the runner's max_secret_size"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(run_count(), 0u);

  auto big = run_shell("head -c 2000 /dev/zero | tr '\\0' x | GANTRY_RUNNER_CONFIG='" + dir_ / "runner.yml" + "' '" +
                       gantry_binary() + "' --store '" + store_ + "' secret set BIG");
  EXPECT_EQ(big.exit_code, 1) << big.out << big.err;
  EXPECT_NE(big.err.find("bigger than 1024 bytes"), std::string::npos) << big.err;
  auto ls = run_gantry(store_, {"secret", "ls", "--json"});
  EXPECT_EQ(nlohmann::json::parse(ls.out).size(), 0u) << ls.out;
}

// Issue 11.2: the stage key holds an HMAC of each secret's value: the same
// value is served from the stage cache, a new value reruns the stage, and
// no file of the store (meta.db and its WAL included) holds either value.
TEST_F(RunSecretsTest, ChangedSecretValue_RerunsTheStage_StoreHoldsNeitherValue) {
  write_file(dir_ / "token", "rotating-token-v1-5521\n", 0600);
  auto config = runner_config("projects:\n  \"*\":\n    secrets:\n      TOKEN: {file: " + dir_ / "token" + "}\n");
  commit({{".gantry.yml",
           "stages:\n"
           "  uses: {image: busybox, secrets: [TOKEN], run: 'echo \"using $TOKEN\"'}\n"
           "  plain: {image: busybox, run: 'echo no secret'}\n"}});
  auto first = run_json({}, {config});
  ASSERT_EQ(first.value("status", ""), "passed") << first.dump(2);
  EXPECT_FALSE(stage(first, "uses").value("cached", true));

  auto same = run_json({}, {config});
  ASSERT_EQ(same.value("status", ""), "passed") << same.dump(2);
  EXPECT_TRUE(stage(same, "uses").value("cached", false)) << same.dump(2);
  EXPECT_TRUE(stage(same, "plain").value("cached", false));

  write_file(dir_ / "token", "rotating-token-v2-8830\n", 0600);
  auto rotated = run_json({}, {config});
  ASSERT_EQ(rotated.value("status", ""), "passed") << rotated.dump(2);
  EXPECT_FALSE(stage(rotated, "uses").value("cached", true)) << rotated.dump(2);
  EXPECT_TRUE(stage(rotated, "plain").value("cached", false));  // only the stage that uses it

  for (const std::string& value : {std::string("rotating-token-v1-5521"), std::string("rotating-token-v2-8830")})
    EXPECT_EQ(store_files_with(value), "") << value;
  // What the key holds instead: a keyed digest, under a 0600 key.
  struct stat st {};
  ASSERT_EQ(::stat((store_ + "/secrets/hmac.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_NE(store_files_with("hmac-sha256:"), "");

  // A new HMAC key (as when joining runners that share a cache) changes the
  // key: the stage runs again once, then is cached under the new key.
  auto key = run_shell("printf 'a-key-shared-by-the-runners-0042' | '" + gantry_binary() + "' --store '" + store_ +
                       "' secret key set");
  ASSERT_EQ(key.exit_code, 0) << key.err;
  auto rekeyed = run_json({}, {config});
  EXPECT_FALSE(stage(rekeyed, "uses").value("cached", true)) << rekeyed.dump(2);
  auto again = run_json({}, {config});
  EXPECT_TRUE(stage(again, "uses").value("cached", false)) << again.dump(2);
}

}  // namespace
}  // namespace gantry::testing
