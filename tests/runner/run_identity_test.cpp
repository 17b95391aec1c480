// Paths and names a user types: a relative --store, a run started as
// `gantry run .` promoted from another directory (and after the work tree
// moved: from its remote), run ids by any unique part.
#include <filesystem>

#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunIdentityTest : public RunFixture {
 protected:
  // gantry ARGS... with the working directory `cwd` (no --store added).
  static CommandResult gantry_in(const std::string& cwd, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", cwd, gantry_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
  }
  static nlohmann::json parse(const CommandResult& r) {
    try {
      return nlohmann::json::parse(r.out);
    } catch (const nlohmann::json::exception&) {
      ADD_FAILURE() << "not JSON:\n" << r.out << r.err;
      return nlohmann::json::object();
    }
  }
  void manual_pipeline() {
    commit({{".gantry.yml",
             "images:\n"
             "  app:\n"
             "    from: busybox\n"
             "    steps:\n"
             "      - run: echo built > /built\n"
             "      - copy: VERSION /VERSION\n"
             "stages:\n"
             "  unit: {image: app, run: cat /built /VERSION}\n"
             "  release: {image: app, environment: production, run: cat /VERSION}\n"
             "environments:\n"
             "  - test\n"
             "  - {name: production, when: manual}\n"},
            {"VERSION", "1\n"}});
  }
};

TEST_F(RunIdentityTest, RelativeStore_WorksForEveryCommand_RunStepsIncluded) {
  manual_pipeline();
  const std::string cwd = dir_.path();
  // The fixture's store is dir_/store: name it relatively from dir_.
  auto r = gantry_in(cwd, {"--store", "store", "run", repo_, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto run = parse(r);
  EXPECT_EQ(run.value("status", ""), "waiting") << run.dump(2);
  EXPECT_EQ(stage(run, "unit").value("status", ""), "passed");
  // The same relative store from a subdirectory spelled with "..".
  std::filesystem::create_directories(dir_ / "sub");
  r = gantry_in(dir_ / "sub", {"--store", "../store", "promote", "app", "--to", "production", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(parse(r).value("status", ""), "passed");
  r = gantry_in(cwd, {"--store", "./store/", "image", "ls"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("busybox"), std::string::npos) << r.out;
  // The store is one store: the absolute spelling sees the same runs.
  EXPECT_EQ(run_count(), 1u);
}

TEST_F(RunIdentityTest, RunDot_RecordsAbsoluteRepoAndRemote_PromoteWorksFromElsewhereAndAfterAMove) {
  // An "origin" the work tree pushes to, as a user's clone has.
  const std::string origin = dir_ / "origin.git";
  ASSERT_EQ(run_command({"git", "init", "-q", "--bare", origin}).exit_code, 0);
  git({"remote", "add", "origin", "file://" + origin});
  manual_pipeline();
  git({"push", "-q", "origin", "main"});

  auto r = gantry_in(repo_, {"--store", store_, "run", ".", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto run = parse(r);
  ASSERT_EQ(run.value("status", ""), "waiting") << run.dump(2);
  EXPECT_EQ(run.value("repo", ""), std::filesystem::canonical(repo_).string());
  EXPECT_EQ(run.value("repo_url", ""), "file://" + origin);

  // From another directory: the recorded absolute path is used.
  std::filesystem::create_directories(dir_ / "elsewhere");
  r = gantry_in(dir_ / "elsewhere", {"--store", store_, "promote", "app", "--to", "production", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(parse(r).value("status", ""), "passed");

  // A second waiting run, then the work tree moves away: its remote serves.
  commit({{"VERSION", "2\n"}});
  git({"push", "-q", "origin", "main"});
  auto second = run_json();
  ASSERT_EQ(second.value("status", ""), "waiting") << second.dump(2);
  std::filesystem::rename(repo_, dir_ / "moved");
  r = gantry_in(dir_ / "elsewhere",
                {"--store", store_, "promote", "app", "--to", "production", "--run", second["id"], "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(parse(r).value("status", ""), "passed");
}

TEST_F(RunIdentityTest, RunIds_MatchByUniqueSuffixOrPrefix_AmbiguousListsCandidates) {
  commit({{".gantry.yml", "stages:\n  one: {image: busybox, run: 'true'}\n"}});
  auto first = run_json();
  commit({{"x", "1"}});
  auto second = run_json();
  const std::string a = first.value("id", ""), b = second.value("id", "");
  ASSERT_EQ(a.size(), 20u) << a;  // yyyymmdd-hhmmss-xxxx
  ASSERT_NE(a, b);

  // The random suffix, as printed, picks the run.
  const std::string suffix = a.substr(16);
  if (!b.ends_with(suffix)) {
    auto shown = gantry_json({"show", suffix, "--json"});
    EXPECT_EQ(shown.value("id", ""), a);
    auto logs = run_gantry(store_, {"logs", suffix, "one"});
    EXPECT_EQ(logs.exit_code, 0) << logs.err;
  }
  // So does the full id and a unique prefix.
  EXPECT_EQ(gantry_json({"show", b, "--json"}).value("id", ""), b);

  // Both ids start with "20": ambiguous, and both are named.
  auto r = run_gantry(store_, {"show", "20"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("ambiguous"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(a), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(b), std::string::npos) << r.err;

  r = run_gantry(store_, {"show", "zzzz"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gantry::testing
