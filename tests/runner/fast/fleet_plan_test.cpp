// The jobs a run becomes on a fleet (runner/fleet_plan.h): no database, no
// container; the pipeline is parsed from YAML as a run would.
#include <gtest/gtest.h>

#include <map>

#include "pipeline/loader.h"
#include "runner/fleet_plan.h"

namespace gantry::runner {
namespace {

pipeline::Pipeline parse(const std::string& yaml) {
  auto p = pipeline::load_pipeline(yaml, ".gantry.yml");
  EXPECT_TRUE(p) << (p ? "" : p.error().str());
  return p ? *p : pipeline::Pipeline{};
}

std::map<std::string, pgstore::JobSpec> by_name(const std::vector<pgstore::JobSpec>& jobs) {
  std::map<std::string, pgstore::JobSpec> out;
  for (const auto& j : jobs) out[j.name] = j;
  return out;
}

TEST(FleetPlan, StagesNeedTheBuild_TheirNeeds_AndThePromotionBefore_PromotionsNeedEveryStage) {
  auto p = parse(
      "stages:\n"
      "  unit: {image: busybox, run: 'true', retry: 2}\n"
      "  lint: {image: busybox, run: 'true', runs_on: [fast, x86]}\n"
      "  e2e: {image: busybox, run: 'true', needs: [unit]}\n"
      "  smoke: {image: busybox, run: 'true', environment: staging}\n"
      "environments: [test, staging]\n");
  auto jobs = plan_fleet_jobs(p, "r1");
  auto named = by_name(jobs);
  ASSERT_EQ(jobs.size(), 7u);
  EXPECT_EQ(jobs.front().name, "build");
  EXPECT_TRUE(jobs.front().needs.empty());
  EXPECT_EQ(named["stage:unit"].needs, (std::vector<std::string>{"build"}));
  EXPECT_EQ(named["stage:unit"].max_attempts, 3);
  EXPECT_EQ(named["stage:lint"].labels, (std::vector<std::string>{"fast", "x86"}));
  EXPECT_EQ(named["stage:e2e"].needs, (std::vector<std::string>{"build", "stage:unit"}));
  EXPECT_EQ(named["promote:test"].needs, (std::vector<std::string>{"build", "stage:unit", "stage:lint", "stage:e2e"}));
  EXPECT_EQ(named["stage:smoke"].needs, (std::vector<std::string>{"promote:test"}));
  EXPECT_EQ(named["promote:staging"].needs, (std::vector<std::string>{"promote:test", "stage:smoke"}));
  for (const auto& j : jobs) {
    EXPECT_EQ(j.run_id, "r1");
    auto parsed = FleetJob::parse(j.name, j.payload);
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(parsed->name(), j.name);
  }
  EXPECT_FALSE(fleet_gate(p));
}

TEST(FleetPlan, NothingFromTheFirstManualGateOn_IsQueued) {
  auto p = parse(
      "stages:\n"
      "  unit: {image: busybox, run: 'true'}\n"
      "  deploy: {image: busybox, run: 'true', environment: production}\n"
      "environments: [test, {name: production, when: manual}]\n");
  auto named = by_name(plan_fleet_jobs(p, "r"));
  EXPECT_TRUE(named.count("promote:test"));
  EXPECT_FALSE(named.count("stage:deploy"));
  EXPECT_FALSE(named.count("promote:production"));
  EXPECT_EQ(fleet_gate(p).value_or(""), "production");
  EXPECT_EQ(fleet_gate(p, 0).value_or(""), "production");  // after test's jobs
  EXPECT_FALSE(fleet_gate(p, 1));                           // after production's
}

TEST(FleetPlan, GantryPromote_QueuesTheGatesEnvironments_WithoutTheBuild_OrNeedsThatPassedBefore) {
  auto p = parse(
      "stages:\n"
      "  unit: {image: busybox, run: 'true'}\n"
      "  deploy: {image: busybox, run: 'true', environment: production, needs: [unit]}\n"
      "  check: {image: busybox, run: 'true', environment: production, needs: [deploy]}\n"
      "  soak: {image: busybox, run: 'true', environment: later}\n"
      "environments: [test, {name: production, when: manual}, {name: later, when: manual}]\n");
  auto jobs = plan_fleet_jobs(p, "r", 1);
  auto named = by_name(jobs);
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_FALSE(named.count("build"));
  EXPECT_TRUE(named["stage:deploy"].needs.empty());  // unit passed before the gate
  EXPECT_EQ(named["stage:check"].needs, (std::vector<std::string>{"stage:deploy"}));
  EXPECT_EQ(named["promote:production"].needs, (std::vector<std::string>{"stage:deploy", "stage:check"}));
  EXPECT_FALSE(named.count("stage:soak"));  // behind the next manual gate
  EXPECT_EQ(fleet_gate(p, 1).value_or(""), "later");
}

TEST(FleetPlan, APayloadThatIsNotAJob_IsAnErrorNamingIt) {
  auto bad = FleetJob::parse("stage:x", "{\"kind\": \"launch-missiles\"}");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("stage:x"), std::string::npos);
  EXPECT_FALSE(FleetJob::parse("stage:x", "not json"));
  EXPECT_FALSE(FleetJob::parse("stage:x", "{\"kind\": \"stage\"}"));  // no target
}

}  // namespace
}  // namespace gantry::runner
