// gantry run end to end on real git repositories: stages in fresh containers,
// parallelism, fail fast, artifacts, secrets, the stage cache and inputs.
#include <algorithm>

#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunStagesTest : public RunFixture {};

// Parallel stages: tests/runner/fast/run_stages_fast_test.cpp
// (IndependentStages_AreInFlightAtOnce) proves the overlap with the fake
// launcher holding both containers until both run, not by timing.

TEST_F(RunStagesTest, FailingStage_SkipsItsDependants_IndependentOnesFinish_NothingIsPromoted) {
  commit({{".gantry.yml",
           "stages:\n"
           "  broken: {image: busybox, run: 'echo about to fail; exit 3'}\n"
           "  after: {image: busybox, needs: [broken], run: echo never}\n"
           "  later: {image: busybox, needs: [after], run: echo never}\n"
           "  bystander: {image: busybox, run: 'sleep 0.3; echo fine'}\n"}});
  auto run = run_json({}, {}, 1);
  EXPECT_EQ(run.value("status", ""), "failed");
  EXPECT_EQ(stage(run, "broken").value("status", ""), "failed");
  EXPECT_EQ(stage(run, "broken").value("exit_code", 0), 3);
  EXPECT_EQ(stage(run, "after").value("status", ""), "skipped");
  EXPECT_EQ(stage(run, "later").value("status", ""), "skipped");
  EXPECT_EQ(stage(run, "bystander").value("status", ""), "passed");
  EXPECT_TRUE(run["promotions"].empty());
  EXPECT_TRUE(environments("busybox").empty());
  auto logs = run_gantry(store_, {"logs", run["id"], "broken"});
  EXPECT_NE(logs.out.find("about to fail"), std::string::npos) << logs.out;
}

TEST_F(RunStagesTest, AllowFailureAndRetry_DoNotFailTheRun) {
  commit({{".gantry.yml",
           "stages:\n"
           "  flaky: {image: busybox, allow_failure: true, run: exit 1}\n"
           "  retried: {image: busybox, retry: 2, run: exit 1}\n"
           "  after: {image: busybox, needs: [flaky], run: echo ran}\n"}});
  auto run = run_json({}, {}, 1);
  EXPECT_EQ(stage(run, "flaky").value("status", ""), "failed");
  EXPECT_TRUE(stage(run, "flaky").value("allow_failure", false));
  EXPECT_EQ(stage(run, "after").value("status", ""), "passed");
  EXPECT_EQ(stage(run, "retried").value("attempts", 0), 3);
  EXPECT_EQ(run.value("status", ""), "failed");  // `retried` is required
}

TEST_F(RunStagesTest, Artifacts_PassFromOneStageToTheNext_ReadOnly) {
  commit({{".gantry.yml",
           "stages:\n"
           "  make: {image: busybox, run: 'mkdir -p /out && echo payload-42 > /out/report.txt',"
           " artifacts: [/out/report.txt]}\n"
           "  use:\n"
           "    image: busybox\n"
           "    needs: [make]\n"
           "    run:\n"
           "      - grep payload-42 /artifacts/make/out/report.txt\n"
           "      - if touch /artifacts/make/out/x 2>/dev/null; then echo writable; exit 1; fi\n"
           "      - if test -e /out/report.txt; then echo leaked; exit 1; fi\n"}});
  auto run = run_json();
  EXPECT_EQ(run.value("status", ""), "passed") << run.dump(2);
  EXPECT_EQ(stage(run, "use").value("status", ""), "passed");
  EXPECT_EQ(read_file_or_die(store_ + "/runs/" + run["id"].get<std::string>() + "/artifacts/make/out/report.txt"),
            "payload-42\n");
}

TEST_F(RunStagesTest, Workspace_IsTheCommitReadOnly_NotTheWorkTree) {
  commit({{".gantry.yml",
           "stages:\n"
           "  look:\n"
           "    image: busybox\n"
           "    run:\n"
           "      - cat /workspace/data/value.txt\n"
           "      - grep committed /workspace/data/value.txt\n"
           "      - if echo x > /workspace/new 2>/dev/null; then exit 1; fi\n"
           "      - test \"$GANTRY_ENVIRONMENT\" = test\n"},
          {"data/value.txt", "committed\n"}});
  write_file(repo_ + "/data/value.txt", "uncommitted\n");  // must not leak in
  auto run = run_json();
  EXPECT_EQ(run.value("status", ""), "passed") << run.dump(2);
}

TEST_F(RunStagesTest, Secret_IsMaskedAndNeverStoredAnywhereInTheStore) {
  const std::string secret = "hunter2-very-secret-0451";
  write_file(dir_ / "token.txt", "file-secret-value-9931\n");
  // The runner maps the names to its own variable and file (the pipeline only names them).
  write_file(dir_ / "runner.yml", "projects:\n  \"*\":\n    secrets:\n      API_TOKEN: {env: RUN_TEST_SECRET}\n"
                                  "      FILE_TOKEN: {file: " + dir_ / "token.txt" + "}\n");
  commit({{".gantry.yml",
           "stages:\n"
           "  deploy:\n"
           "    image: busybox\n"
           "    secrets: [API_TOKEN, FILE_TOKEN]\n"
           "    run:\n"
           "      - echo \"token is $API_TOKEN\"\n"
           "      - echo \"file token is $FILE_TOKEN\"\n"
           "      - echo $API_TOKEN > /tmp/t && cat /tmp/t\n"}});
  auto run = run_json({}, {"RUN_TEST_SECRET=" + secret, "GANTRY_RUNNER_CONFIG=" + dir_ / "runner.yml"});
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  auto logs = run_gantry(store_, {"logs", run["id"], "deploy"});
  EXPECT_NE(logs.out.find("token is ***"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("file token is ***"), std::string::npos) << logs.out;
  // Nothing in the store holds either value: logs, meta.db (+WAL), blobs, layers.
  for (const std::string& value : {secret, std::string("file-secret-value-9931")}) {
    auto grep = run_command({"grep", "-r", "-a", "-l", value, store_});
    EXPECT_EQ(grep.exit_code, 1) << "found in: " << grep.out;
  }
}

TEST_F(RunStagesTest, SecondRunOfAnUnchangedCommit_RerunsNothing_PromotesNothingNew) {
  commit({{".gantry.yml",
           "images:\n"
           "  app: {from: busybox, steps: [{run: 'echo v1 > /version'}]}\n"
           "stages:\n"
           "  unit: {image: app, run: cat /version}\n"
           "  smoke: {image: app, environment: staging, run: cat /version}\n"}});
  auto first = run_json();
  ASSERT_EQ(first.value("status", ""), "passed");
  EXPECT_EQ(first["promotions"].size(), 3u);  // test, staging, production
  auto second = run_json();
  ASSERT_EQ(second.value("status", ""), "passed");
  for (const auto& s : second["stages"]) EXPECT_TRUE(s.value("cached", false)) << s.dump();
  EXPECT_TRUE(second["promotions"].empty()) << second["promotions"].dump();
  auto history = gantry_json({"history", "app", "--json"});
  EXPECT_EQ(history["promotions"].size(), 3u);
}

TEST_F(RunStagesTest, CommitChangingOnlyATestScript_RerunsOnlyStagesWhoseInputsCoverIt) {
  commit({{".gantry.yml",
           "stages:\n"
           "  unit: {image: busybox, inputs: [tests/unit.sh], run: sh /workspace/tests/unit.sh}\n"
           "  lint: {image: busybox, inputs: ['tests/lint*'], run: sh /workspace/tests/lint.sh}\n"
           "  docs: {image: busybox, inputs: [docs/], run: 'ls /workspace/docs; test ! -e /workspace/tests'}\n"},
          {"tests/unit.sh", "echo unit ok\n"},
          {"tests/lint.sh", "echo lint ok\n"},
          {"docs/index.md", "# docs\n"}});
  auto first = run_json();
  ASSERT_EQ(first.value("status", ""), "passed") << first.dump(2);
  commit({{"tests/lint.sh", "echo lint still ok\n"}}, "only the lint script");
  auto second = run_json();
  ASSERT_EQ(second.value("status", ""), "passed") << second.dump(2);
  EXPECT_TRUE(stage(second, "unit").value("cached", false));
  EXPECT_TRUE(stage(second, "docs").value("cached", false));
  EXPECT_FALSE(stage(second, "lint").value("cached", true));
  auto logs = run_gantry(store_, {"logs", second["id"], "lint"});
  EXPECT_NE(logs.out.find("lint still ok"), std::string::npos) << logs.out;
}

TEST_F(RunStagesTest, NoCacheFlag_RerunsEveryStage) {
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: echo hi}\n"}});
  run_json();
  auto again = run_json({"--no-cache"});
  EXPECT_FALSE(stage(again, "unit").value("cached", true));
}

TEST_F(RunStagesTest, StageTimeout_FailsTheStage) {
  commit({{".gantry.yml", "stages:\n  slow: {image: busybox, timeout: 1s, run: sleep 30}\n"}});
  auto run = run_json({}, {}, 1);
  EXPECT_EQ(stage(run, "slow").value("status", ""), "failed");
  EXPECT_NE(stage(run, "slow").value("detail", "").find("timed out"), std::string::npos);
}

}  // namespace
}  // namespace gantry::testing
