// Time through the store's clock (common/clock.h) with a FakeClock: run ids,
// recorded times, stage durations and the retention of runs are exact.
#include "cache/store_maintenance.h"
#include "tests/runner/fast/fake_run_fixture.h"

namespace gantry::testing {
namespace {

using namespace std::chrono_literals;

class RunClockFast : public FakeRunFixture {};

TEST_F(RunClockFast, RunIdAndTimes_ComeFromTheStoreClock) {
  clock_.set(1767323045123);  // 2026-01-02 03:04:05.123 UTC
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: make test}\n"}});
  auto run = run_ok();
  ASSERT_EQ(run.status, cache::RunStatus::passed) << run.error;
  EXPECT_TRUE(run.id.starts_with("20260102-030405-")) << run.id;
  EXPECT_EQ(run.started_ms, 1767323045123);
  EXPECT_EQ(stage(run, "unit").started_ms, 1767323045123);
  auto envs = store_->metadata().promotion_history({.project = run.project, .image = "busybox"});
  ASSERT_TRUE(envs) << envs.error().message();
  ASSERT_FALSE(envs->empty());
  for (const auto& event : *envs) EXPECT_EQ(event.time_ms, 1767323045123) << event.environment;
}

TEST_F(RunClockFast, StageDuration_IsTheTimeItsContainerTook_ACachedRunKeepsTheFirstRunsApart) {
  commit({{".gantry.yml",
           "stages:\n"
           "  slow: {image: busybox, run: make test}\n"
           "  quick: {image: busybox, needs: [slow], run: true}\n"}});
  fake_.on_stage("slow", FakeContainer{.takes = 1500ms});
  fake_.on_stage("quick", FakeContainer{.takes = 20ms});
  auto first = run_ok();
  ASSERT_EQ(first.status, cache::RunStatus::passed) << first.error;
  EXPECT_EQ(stage(first, "slow").duration_ms, 1500);
  EXPECT_EQ(stage(first, "quick").duration_ms, 20);
  EXPECT_EQ(stage(first, "quick").started_ms, stage(first, "slow").started_ms + 1500);

  auto second = run_ok();
  EXPECT_TRUE(stage(second, "slow").cached);
  EXPECT_EQ(stage(second, "slow").duration_ms, 0);  // the look-up, on a clock that stood still
  EXPECT_EQ(stage(second, "slow").original_ms, 1500);
  EXPECT_EQ(stage(second, "slow").detail, "cached from run " + first.id + " (took 1.50s there)");
}

TEST_F(RunClockFast, Retention_PrunesRunsOlderThanKeepDays_BeyondKeepRuns) {
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, cache: false, run: make test}\n"}});
  fake_.on_stage("unit", FakeContainer{.exit_code = 1});  // failed runs: nothing promoted or cached holds them
  std::vector<std::string> ids;
  for (int day = 0; day < 3; ++day) {
    ids.push_back(run_ok().id);
    clock_.advance(std::chrono::days(10));
  }
  clock_.advance(std::chrono::days(15));  // now: day 45; the runs are 45, 35 and 25 days old
  auto report = cache::prune_runs(*store_, {.keep_runs = 1, .keep_days = 30}, false, store_->clock().now_ms());
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->runs_pruned, 2u);
  EXPECT_EQ(run_count(), 1u);
  auto kept = store_->metadata().find_run(ids[2]);
  EXPECT_TRUE(kept) << "the newest run is kept by keep_runs although it is older than keep_days";
  EXPECT_FALSE(store_->metadata().find_run(ids[0]));
}

}  // namespace
}  // namespace gantry::testing
