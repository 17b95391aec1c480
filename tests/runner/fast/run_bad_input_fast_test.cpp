// Bad input to run / promote / rollback, in-process: a clear error and no
// state change (no run recorded, no environment moved, no container started).
// Was tests/runner/run_bad_input_test.cpp (root, the gantry binary).
#include "tests/runner/fast/fake_run_fixture.h"

namespace gantry::testing {
namespace {

class RunBadInputFast : public FakeRunFixture {
 protected:
  // Runs the pipeline and expects it refused with `message` in the error.
  void expect_refused(const std::string& yaml, const std::string& message) {
    commit({{".gantry.yml", yaml}});
    auto r = run();
    ASSERT_FALSE(r) << "status " << r->status;
    EXPECT_NE(r.error().message().find(message), std::string::npos) << r.error().message();
    EXPECT_EQ(run_count(), 0u);
    EXPECT_TRUE(environments("").empty());
    EXPECT_TRUE(fake_.calls().empty());
  }
};

TEST_F(RunBadInputFast, UnknownImage) {
  expect_refused("stages:\n  unit: {image: no-such-image, run: true}\n", "no-such-image");
}

TEST_F(RunBadInputFast, UnknownNeed) {
  expect_refused("stages:\n  unit: {image: busybox, needs: [ghost], run: true}\n", "ghost");
}

TEST_F(RunBadInputFast, CycleInNeeds) {
  expect_refused(
      "stages:\n  a: {image: busybox, needs: [b], run: true}\n  b: {image: busybox, needs: [a], run: true}\n",
      "cycle");
}

TEST_F(RunBadInputFast, UnknownEnvironment) {
  expect_refused("stages:\n  unit: {image: busybox, environment: qa, run: true}\n", "qa");
}

TEST_F(RunBadInputFast, MissingSecret) {
  expect_refused("stages:\n  unit: {image: busybox, secrets: [GANTRY_TEST_ABSENT_SECRET], run: true}\n",
                 "the runner provides no secret GANTRY_TEST_ABSENT_SECRET");
}

TEST_F(RunBadInputFast, NeedOnALaterEnvironment) {
  expect_refused("stages:\n"
                 "  unit: {image: busybox, needs: [smoke], run: true}\n"
                 "  smoke: {image: busybox, environment: production, run: true}\n"
                 "environments: [test, production]\n",
                 "needs 'smoke', which runs later, in 'production'");
}

TEST_F(RunBadInputFast, PromoteOfAnUnknownRun) {
  auto r = promote("app", "production", "19990101-000000-dead");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("not found"), std::string::npos) << r.error().message();
  EXPECT_TRUE(fake_.calls().empty());
}

TEST_F(RunBadInputFast, RollbackWithNoPreviousDigest) {
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: true}\n"}});
  ASSERT_EQ(run_ok().status, cache::RunStatus::passed);
  auto before = environments("busybox");
  ASSERT_FALSE(before.empty());
  auto r = rollback("busybox", "staging");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("no previous digest"), std::string::npos) << r.error().message();
  EXPECT_EQ(environments("busybox"), before);
  r = rollback("busybox", "nowhere");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("never promoted"), std::string::npos) << r.error().message();
}

TEST_F(RunBadInputFast, PromotionSkippingAnEnvironment) {
  commit({{".gantry.yml",
           "stages:\n  unit: {image: busybox, run: true}\n"
           "environments: [test, {name: staging, when: manual}, production]\n"}});
  auto run = run_ok();
  ASSERT_EQ(run.status, cache::RunStatus::waiting);
  auto r = promote("busybox", "production", run.id);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("has not passed staging"), std::string::npos) << r.error().message();
  EXPECT_EQ(environments("busybox").count("production"), 0u);
}

}  // namespace
}  // namespace gantry::testing
