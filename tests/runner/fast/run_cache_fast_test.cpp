// The stage cache through the fake launcher: a passed stage of the same key
// is reused without a container; a change of its definition, --no-cache, a
// failure or its artifacts gone make it run again. Artifacts pass to the
// stages that need them.
#include "tests/runner/fast/fake_run_fixture.h"

#include <filesystem>

#include "common/file_util.h"

namespace gantry::testing {
namespace {

class RunCacheFast : public FakeRunFixture {};

TEST_F(RunCacheFast, SameKey_IsAHit_NoContainer_TheRecordNamesTheFirstRun) {
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: make test}\n"}});
  auto first = run_ok();
  ASSERT_EQ(first.status, cache::RunStatus::passed) << first.error;
  EXPECT_FALSE(stage(first, "unit").cached);
  auto second = run_ok();
  ASSERT_EQ(second.status, cache::RunStatus::passed) << second.error;
  EXPECT_TRUE(stage(second, "unit").cached);
  EXPECT_EQ(stage(second, "unit").cached_from, first.id);
  EXPECT_EQ(stage(second, "unit").cache_key, stage(first, "unit").cache_key);
  EXPECT_EQ(fake_.calls_of("unit").size(), 1u);
}

TEST_F(RunCacheFast, AChangedScript_IsAMiss) {
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: make test}\n"}});
  auto first = run_ok();
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: make check}\n"}});
  auto second = run_ok();
  EXPECT_FALSE(stage(second, "unit").cached);
  EXPECT_NE(stage(second, "unit").cache_key, stage(first, "unit").cache_key);
  auto calls = fake_.calls_of("unit");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].spec.argv.at(2), "make check");
}

TEST_F(RunCacheFast, ACommitThatChangesNoInput_IsStillAHit) {
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, workspace: false, run: make test}\n"}});
  run_ok();
  commit({{"README", "docs only\n"}});
  auto second = run_ok();
  EXPECT_TRUE(stage(second, "unit").cached);
  EXPECT_EQ(fake_.calls_of("unit").size(), 1u);
}

TEST_F(RunCacheFast, NoCache_RunsAgain) {
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: make test}\n"}});
  run_ok();
  auto second = run_ok(2, /*no_cache=*/true);
  EXPECT_FALSE(stage(second, "unit").cached);
  EXPECT_EQ(fake_.calls_of("unit").size(), 2u);
}

TEST_F(RunCacheFast, AFailedStage_IsNotCached) {
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: make test}\n"}});
  fake_.on_stage("unit", {{.exit_code = 2}, {.exit_code = 0}});
  EXPECT_EQ(run_ok().status, cache::RunStatus::failed);
  auto second = run_ok();
  EXPECT_EQ(second.status, cache::RunStatus::passed);
  EXPECT_FALSE(stage(second, "unit").cached);
  EXPECT_EQ(fake_.calls_of("unit").size(), 2u);
}

TEST_F(RunCacheFast, Artifacts_AreCollectedMountedForDependants_AndAHitNeedsThemStillThere) {
  commit({{".gantry.yml",
           "stages:\n"
           "  make: {image: busybox, run: make, artifacts: [/out/report.txt]}\n"
           "  use: {image: busybox, needs: [make], run: cat /artifacts/make/out/report.txt}\n"}});
  fake_.on_stage("make", FakeContainer{.upper_files = {{"out/report.txt", "payload-42\n"}, {"tmp/junk", "x"}}});
  auto first = run_ok();
  ASSERT_EQ(first.status, cache::RunStatus::passed) << first.error;
  const std::string dir = stage(first, "make").artifacts_dir;
  EXPECT_EQ(read_file_or_die(dir + "/out/report.txt"), "payload-42\n");
  EXPECT_FALSE(std::filesystem::exists(dir + "/tmp/junk"));  // only what `artifacts:` names
  ASSERT_EQ(fake_.calls_of("make").size(), 1u);
  EXPECT_TRUE(fake_.calls_of("make")[0].spec.keep_upper);
  auto use = fake_.calls_of("use");
  ASSERT_EQ(use.size(), 1u);
  bool mounted = false;
  for (const auto& m : use[0].spec.mounts)
    if (m.target == "/artifacts/make" && m.source == dir && m.read_only) mounted = true;
  EXPECT_TRUE(mounted);

  auto second = run_ok();
  EXPECT_TRUE(stage(second, "make").cached);
  EXPECT_TRUE(stage(second, "use").cached);
  ASSERT_TRUE(remove_tree(dir));  // the artifacts a hit would hand on are gone: run it again
  auto third = run_ok();
  EXPECT_FALSE(stage(third, "make").cached);
  EXPECT_EQ(fake_.calls_of("make").size(), 2u);
}

}  // namespace
}  // namespace gantry::testing
