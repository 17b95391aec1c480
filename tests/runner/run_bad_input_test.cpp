// Bad input to gantry run / promote / rollback: a clear error, a non-zero
// exit, and no state change (no run recorded, no environment moved).
#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunBadInputTest : public RunFixture {
 protected:
  // Runs the pipeline and expects it to be refused with `message` in stderr.
  void expect_refused(const std::string& yaml, const std::string& message, const std::vector<std::string>& env = {}) {
    commit({{".gantry.yml", yaml}});
    auto r = run({}, env);
    EXPECT_NE(r.exit_code, 0) << r.out;
    EXPECT_NE(r.err.find(message), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(run_count(), 0u);
    EXPECT_TRUE(environments("").empty());
  }
};

TEST_F(RunBadInputTest, UnknownImage) {
  expect_refused("stages:\n  unit: {image: no-such-image, run: true}\n", "no-such-image");
}

TEST_F(RunBadInputTest, UnknownNeed) {
  expect_refused("stages:\n  unit: {image: busybox, needs: [ghost], run: true}\n", "ghost");
}

TEST_F(RunBadInputTest, CycleInNeeds) {
  expect_refused(
      "stages:\n  a: {image: busybox, needs: [b], run: true}\n  b: {image: busybox, needs: [a], run: true}\n",
      "cycle");
}

TEST_F(RunBadInputTest, UnknownEnvironment) {
  expect_refused("stages:\n  unit: {image: busybox, environment: qa, run: true}\n", "qa");
}

TEST_F(RunBadInputTest, MissingSecret) {
  expect_refused("stages:\n  unit: {image: busybox, secrets: [GANTRY_TEST_ABSENT_SECRET], run: true}\n",
                 "the runner provides no secret GANTRY_TEST_ABSENT_SECRET");
}

TEST_F(RunBadInputTest, PromoteOfAnUnknownRun) {
  auto r = run_gantry(store_, {"promote", "app", "--to", "production", "--run", "19990101-000000-dead"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
}

TEST_F(RunBadInputTest, RollbackWithNoPreviousDigest) {
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: true}\n"}});
  ASSERT_EQ(run_json().value("status", ""), "passed");
  auto before = environments("busybox");
  auto r = run_gantry(store_, {"rollback", "busybox", "--env", "staging"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no previous digest"), std::string::npos) << r.err;
  EXPECT_EQ(environments("busybox"), before);
  r = run_gantry(store_, {"rollback", "busybox", "--env", "nowhere"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("never promoted"), std::string::npos) << r.err;
}

TEST_F(RunBadInputTest, PromotionSkippingAnEnvironment) {
  commit({{".gantry.yml",
           "stages:\n  unit: {image: busybox, run: true}\n"
           "environments: [test, {name: staging, when: manual}, production]\n"}});
  auto run = run_json();
  ASSERT_EQ(run.value("status", ""), "waiting");
  auto r = run_gantry(store_, {"promote", "busybox", "--to", "production", "--run", run["id"]});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("has not passed staging"), std::string::npos) << r.err;
  EXPECT_EQ(environments("busybox").count("production"), 0u);
}

}  // namespace
}  // namespace gantry::testing
