// Promotion through the fake launcher: environments in order, a manual gate
// stops the run as waiting until promote, promotion refuses a digest that
// skipped an environment, rollback moves the pointer back; images are built
// in-process (copy steps, and run steps whose upper the fake writes).
#include "tests/runner/fast/fake_run_fixture.h"

namespace gantry::testing {
namespace {

class RunPromotionFast : public FakeRunFixture {
 protected:
  void version(const std::string& v) {
    commit({{".gantry.yml",
             "images:\n  app:\n    from: busybox\n    steps:\n      - copy: VERSION /VERSION\n"
             "stages:\n"
             "  unit: {image: app, run: cat /VERSION}\n"
             "  smoke: {image: app, environment: staging, run: cat /VERSION}\n"
             "  release: {image: app, environment: production, run: cat /VERSION}\n"
             "environments:\n  - test\n  - staging\n  - {name: production, when: manual}\n"},
            {"VERSION", v + "\n"}},
           "version " + v);
  }
};

TEST_F(RunPromotionFast, ManualGate_WaitsWithoutRunningItsStages_PromoteCarriesOn) {
  version("1");
  auto run = run_ok();
  ASSERT_EQ(run.status, cache::RunStatus::waiting) << run.error;
  EXPECT_EQ(run.waiting_environment, "production");
  const std::string digest = digest_of(run, "app");
  ASSERT_FALSE(digest.empty());
  EXPECT_EQ(fake_.calls_of("unit").size(), 1u);
  EXPECT_EQ(fake_.calls_of("smoke").size(), 1u);
  EXPECT_TRUE(fake_.calls_of("release").empty());
  auto envs = environments("app");
  EXPECT_EQ(envs["test"], digest);
  EXPECT_EQ(envs["staging"], digest);
  EXPECT_EQ(envs.count("production"), 0u);
  // The stage ran on the exact digest the run built.
  auto unit = fake_.calls_of("unit")[0];
  EXPECT_NE(std::find(unit.spec.env.begin(), unit.spec.env.end(), "GANTRY_IMAGE_DIGEST=" + digest), unit.spec.env.end());

  auto promoted = promote("app", "production");
  ASSERT_TRUE(promoted) << promoted.error().message();
  EXPECT_EQ(promoted->status, cache::RunStatus::passed) << promoted->error;
  EXPECT_EQ(promoted->id, run.id);
  EXPECT_EQ(fake_.calls_of("release").size(), 1u);
  EXPECT_EQ(environments("app")["production"], digest);
}

TEST_F(RunPromotionFast, AFailedStageInStaging_StopsThePromotionThere) {
  version("1");
  fake_.on_stage("smoke", FakeContainer{.exit_code = 1});
  auto run = run_ok();
  EXPECT_EQ(run.status, cache::RunStatus::failed);
  EXPECT_EQ(run.error, "stages of staging failed; not promoted to staging");
  auto envs = environments("app");
  EXPECT_EQ(envs["test"], digest_of(run, "app"));
  EXPECT_EQ(envs.count("staging"), 0u);
  auto refused = promote("app", "production", run.id);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("has not passed staging"), std::string::npos)
      << refused.error().message();
}

TEST_F(RunPromotionFast, Rollback_MovesThePointerBackToThePreviousDigest) {
  commit({{".gantry.yml",
           "images:\n  app: {from: busybox, steps: [{copy: VERSION /VERSION}]}\n"
           "stages:\n  unit: {image: app, run: cat /VERSION}\n"
           "environments: [test, production]\n"},
          {"VERSION", "1\n"}});
  auto first = run_ok();
  ASSERT_EQ(first.status, cache::RunStatus::passed) << first.error;
  commit({{"VERSION", "2\n"}});
  auto second = run_ok();
  ASSERT_EQ(second.status, cache::RunStatus::passed) << second.error;
  ASSERT_NE(digest_of(first, "app"), digest_of(second, "app"));
  EXPECT_EQ(environments("app")["production"], digest_of(second, "app"));

  auto event = rollback("app", "production");
  ASSERT_TRUE(event) << event.error().message();
  EXPECT_EQ(event->kind, cache::PromotionKind::rollback);
  EXPECT_EQ(event->digest, digest_of(first, "app"));
  EXPECT_EQ(environments("app")["production"], digest_of(first, "app"));
  EXPECT_EQ(environments("app")["test"], digest_of(second, "app"));  // only the one environment moved
}

TEST_F(RunPromotionFast, ARunBuildStep_GoesThroughTheLauncher_ItsUpperBecomesTheLayer) {
  commit({{".gantry.yml",
           "images:\n  app:\n    from: busybox\n    steps:\n      - run: make install\n"
           "stages:\n  unit: {image: app, run: /app/bin/test}\n"}});
  fake_.on_command("make install", {FakeContainer{.upper_files = {{"app/bin/test", "#!/bin/sh\n"}}}});
  auto first = run_ok();
  ASSERT_EQ(first.status, cache::RunStatus::passed) << first.error;
  auto calls = fake_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].stage, "");  // the build step
  EXPECT_TRUE(calls[0].spec.keep_upper);
  EXPECT_EQ(calls[1].stage, "unit");
  ASSERT_EQ(first.build_steps.size(), 1u);
  EXPECT_EQ(first.build_steps[0].status, cache::StepStatus::passed);

  // Another upper, another layer, another digest; the same one again is a step-cache hit.
  fake_.on_command("make install", {FakeContainer{.upper_files = {{"app/bin/test", "#!/bin/sh\nexit 0\n"}}}});
  auto second = run_ok(2, /*no_cache=*/true);
  EXPECT_NE(digest_of(second, "app"), digest_of(first, "app"));
  auto third = run_ok();
  EXPECT_EQ(digest_of(third, "app"), digest_of(second, "app"));
  // build + unit, build + unit (--no-cache); then the build step is a hit
  // and only the stage runs (a --no-cache result is not kept in the stage cache).
  auto all = fake_.calls();
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[4].stage, "unit");
}

TEST_F(RunPromotionFast, AFailingRunBuildStep_FailsTheRun_NoStageRuns) {
  commit({{".gantry.yml",
           "images:\n  app:\n    from: busybox\n    steps:\n      - run: make install\n"
           "stages:\n  unit: {image: app, run: test}\n"}});
  fake_.on_command("make install", {FakeContainer{.exit_code = 2, .err = {"make: *** no rule"}}});
  auto run = run_ok();
  EXPECT_EQ(run.status, cache::RunStatus::failed);
  EXPECT_NE(run.error.find("image app, step #1 (run: make install) failed: exit code 2"), std::string::npos)
      << run.error;
  EXPECT_NE(run.error.find("make: *** no rule"), std::string::npos) << run.error;
  EXPECT_TRUE(fake_.calls_of("unit").empty());
}

TEST_F(RunPromotionFast, TheRunRecord_JsonHasEveryStageImageAndPromotion) {
  version("1");
  fake_.on_stage("unit", FakeContainer{.out = {"unit ok"}});
  auto run = run_ok();
  auto json = runner::load_run_json(*store_, run);
  ASSERT_TRUE(json) << json.error().message();
  EXPECT_EQ((*json)["id"], run.id);
  EXPECT_EQ((*json)["status"], "waiting");
  EXPECT_EQ((*json)["waiting_environment"], "production");
  ASSERT_EQ((*json)["images"].size(), 1u);
  EXPECT_EQ((*json)["images"][0]["name"], "app");
  EXPECT_EQ((*json)["images"][0]["built"], true);
  std::map<std::string, std::string> stage_status;
  for (const auto& s : (*json)["stages"]) stage_status[s["name"]] = s["status"];
  EXPECT_EQ(stage_status["unit"], "passed");
  EXPECT_EQ(stage_status["smoke"], "passed");
  EXPECT_EQ(stage_status["release"], "skipped");  // behind the gate
  std::set<std::string> promoted_to;
  for (const auto& p : (*json)["promotions"]) promoted_to.insert(p["environment"]);
  EXPECT_EQ(promoted_to, (std::set<std::string>{"test", "staging"}));
  EXPECT_NE(read_file_or_die(stage(run, "unit").log_path).find("unit ok"), std::string::npos);
}

}  // namespace
}  // namespace gantry::testing
