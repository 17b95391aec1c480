// The scheduler of a run's stages through the fake launcher: needs order,
// parallel stages overlap (proved by the fake holding containers until two
// are in flight, not by timing), fail fast, retries, allow_failure.
#include <algorithm>

#include "tests/runner/fast/fake_run_fixture.h"

namespace gantry::testing {
namespace {

class RunStagesFast : public FakeRunFixture {
 protected:
  // The position of `stage`'s first start and of its last end in the fake's event list.
  std::size_t index_of(const std::string& event) {
    auto events = fake_.events();
    auto it = std::find(events.begin(), events.end(), event);
    EXPECT_NE(it, events.end()) << event;
    return static_cast<std::size_t>(it - events.begin());
  }
};

TEST_F(RunStagesFast, IndependentStages_AreInFlightAtOnce) {
  commit({{".gantry.yml",
           "stages:\n"
           "  a: {image: busybox, run: echo a}\n"
           "  b: {image: busybox, run: echo b}\n"}});
  // Each container is held until both are running: run one at a time, the
  // first would wait out hold_timeout and fail.
  fake_.on_stage("a", FakeContainer{.release_when_in_flight = 2});
  fake_.on_stage("b", FakeContainer{.release_when_in_flight = 2});
  auto run = run_ok(2);
  EXPECT_EQ(run.status, cache::RunStatus::passed) << run.error;
  EXPECT_EQ(fake_.in_flight_peak(), 2);
  EXPECT_EQ(stage(run, "a").status, cache::StageStatus::passed);
  EXPECT_EQ(stage(run, "b").status, cache::StageStatus::passed);
}

TEST_F(RunStagesFast, JobsOne_RunsOneContainerAtATime) {
  commit({{".gantry.yml",
           "stages:\n"
           "  a: {image: busybox, run: echo a}\n"
           "  b: {image: busybox, run: echo b}\n"
           "  c: {image: busybox, run: echo c}\n"}});
  auto run = run_ok(1);
  EXPECT_EQ(run.status, cache::RunStatus::passed) << run.error;
  EXPECT_EQ(fake_.calls().size(), 3u);
  EXPECT_EQ(fake_.in_flight_peak(), 1);
}

TEST_F(RunStagesFast, AStageStartsOnlyAfterEveryStageItNeeds_Ended) {
  commit({{".gantry.yml",
           "stages:\n"
           "  compile: {image: busybox, run: make}\n"
           "  lint: {image: busybox, run: lint}\n"
           "  test: {image: busybox, needs: [compile, lint], run: make test}\n"
           "  package: {image: busybox, needs: [test], run: make dist}\n"}});
  fake_.on_stage("compile", FakeContainer{.release_when_in_flight = 2});  // compile and lint overlap
  fake_.on_stage("lint", FakeContainer{.release_when_in_flight = 2});
  auto run = run_ok(4);
  ASSERT_EQ(run.status, cache::RunStatus::passed) << run.error;
  EXPECT_LT(index_of("end compile"), index_of("start test"));
  EXPECT_LT(index_of("end lint"), index_of("start test"));
  EXPECT_LT(index_of("end test"), index_of("start package"));
  // Each stage ran its own script, once.
  for (const std::string name : {"compile", "lint", "test", "package"}) {
    auto calls = fake_.calls_of(name);
    ASSERT_EQ(calls.size(), 1u) << name;
    EXPECT_EQ(calls[0].spec.argv.at(0), "/bin/sh");
  }
  EXPECT_EQ(fake_.calls_of("package")[0].spec.argv.at(2), "make dist");
}

TEST_F(RunStagesFast, FailingStage_SkipsItsDependants_IndependentOnesFinish_NothingIsPromoted) {
  commit({{".gantry.yml",
           "stages:\n"
           "  broken: {image: busybox, run: 'exit 3'}\n"
           "  after: {image: busybox, needs: [broken], run: echo never}\n"
           "  later: {image: busybox, needs: [after], run: echo never}\n"
           "  bystander: {image: busybox, run: echo fine}\n"}});
  fake_.on_stage("broken", FakeContainer{.exit_code = 3, .out = {"about to fail"}});
  auto run = run_ok();
  EXPECT_EQ(run.status, cache::RunStatus::failed);
  EXPECT_EQ(stage(run, "broken").status, cache::StageStatus::failed);
  EXPECT_EQ(stage(run, "broken").exit_code, 3);
  EXPECT_EQ(stage(run, "broken").detail, "exit code 3");
  EXPECT_EQ(stage(run, "after").status, cache::StageStatus::skipped);
  EXPECT_EQ(stage(run, "after").detail, "needs broken (failed)");
  EXPECT_EQ(stage(run, "later").status, cache::StageStatus::skipped);
  EXPECT_EQ(stage(run, "bystander").status, cache::StageStatus::passed);
  EXPECT_TRUE(fake_.calls_of("after").empty());
  EXPECT_TRUE(fake_.calls_of("later").empty());
  EXPECT_TRUE(environments("busybox").empty());
  // The log holds what the container printed.
  EXPECT_NE(read_file_or_die(stage(run, "broken").log_path).find("about to fail"), std::string::npos);
}

TEST_F(RunStagesFast, Retry_RunsAgainUntilAnAttemptPasses) {
  commit({{".gantry.yml",
           "stages:\n"
           "  flaky: {image: busybox, retry: 2, run: flaky-test}\n"}});
  fake_.on_stage("flaky", {{.exit_code = 1}, {.exit_code = 1}, {.exit_code = 0}});
  auto run = run_ok();
  EXPECT_EQ(run.status, cache::RunStatus::passed) << run.error;
  EXPECT_EQ(stage(run, "flaky").attempts, 3);
  EXPECT_EQ(stage(run, "flaky").exit_code, 0);
  EXPECT_EQ(fake_.calls_of("flaky").size(), 3u);
  const std::string log = read_file_or_die(stage(run, "flaky").log_path);
  EXPECT_NE(log.find("gantry: attempt 3 of 3"), std::string::npos) << log;
}

TEST_F(RunStagesFast, Retry_Exhausted_FailsTheStageAfterEveryAttempt) {
  commit({{".gantry.yml", "stages:\n  retried: {image: busybox, retry: 2, run: exit 1}\n"}});
  fake_.on_stage("retried", FakeContainer{.exit_code = 1});
  auto run = run_ok();
  EXPECT_EQ(run.status, cache::RunStatus::failed);
  EXPECT_EQ(stage(run, "retried").attempts, 3);
  EXPECT_EQ(fake_.calls_of("retried").size(), 3u);
}

TEST_F(RunStagesFast, StartFailure_IsRetriedAndRecordedWithItsExitCode) {
  commit({{".gantry.yml", "stages:\n  missing: {image: busybox, retry: 1, run: no-such-tool}\n"}});
  fake_.on_stage("missing", FakeContainer{.start_failure = executor::StartFailure::not_found});
  auto run = run_ok();
  EXPECT_EQ(run.status, cache::RunStatus::failed);
  EXPECT_EQ(stage(run, "missing").exit_code, 127);
  EXPECT_EQ(stage(run, "missing").attempts, 2);
}

TEST_F(RunStagesFast, AllowFailure_DoesNotFailTheRun_DependantsStillRun) {
  commit({{".gantry.yml",
           "stages:\n"
           "  flaky: {image: busybox, allow_failure: true, run: exit 1}\n"
           "  after: {image: busybox, needs: [flaky], run: echo ran}\n"}});
  fake_.on_stage("flaky", FakeContainer{.exit_code = 1});
  auto run = run_ok();
  EXPECT_EQ(run.status, cache::RunStatus::passed) << run.error;
  EXPECT_EQ(stage(run, "flaky").status, cache::StageStatus::failed);
  EXPECT_TRUE(stage(run, "flaky").allow_failure);
  EXPECT_EQ(stage(run, "flaky").detail, "exit code 1 (failure allowed)");
  EXPECT_EQ(stage(run, "after").status, cache::StageStatus::passed);
  EXPECT_EQ(fake_.calls_of("after").size(), 1u);
}

TEST_F(RunStagesFast, TimeoutAndOom_AreNamedInTheStageDetail) {
  commit({{".gantry.yml",
           "stages:\n"
           "  slow: {image: busybox, timeout: 5s, run: sleep 60}\n"
           "  hungry: {image: busybox, run: eat-memory}\n"}});
  fake_.on_stage("slow", FakeContainer{.timed_out = true});
  fake_.on_stage("hungry", FakeContainer{.oom_killed = true});
  auto run = run_ok();
  EXPECT_EQ(run.status, cache::RunStatus::failed);
  EXPECT_EQ(stage(run, "slow").detail, "timed out after 5.00s");
  EXPECT_EQ(stage(run, "hungry").detail, "killed: out of memory");
  EXPECT_EQ(stage(run, "hungry").exit_code, 137);
  ASSERT_EQ(fake_.calls_of("slow").size(), 1u);
  EXPECT_EQ(fake_.calls_of("slow")[0].spec.timeout, std::chrono::milliseconds(5000));
}

}  // namespace
}  // namespace gantry::testing
