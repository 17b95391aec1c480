// In-process tests of the pieces of a run that need no container: the stage
// scheduler, the secret masker, the stage key, and the run/environment stores
// on a real store.
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "cache/environment_store.h"
#include "cache/image_store.h"
#include "cache/run_store.h"
#include "cache/store.h"
#include "runner/secret_mask.h"
#include "runner/stage_key.h"
#include "runner/stage_scheduler.h"
#include "tests/support/test_support.h"

namespace gantry::runner {
namespace {

using testing::ScratchDir;

TEST(StageScheduler, FailureSkipsTransitiveDependants_IndependentTasksStillRun) {
  std::vector<DagTask> tasks = {{"a", {}}, {"b", {"a"}}, {"c", {"b"}}, {"d", {}}, {"e", {"d", "outside"}}};
  std::mutex m;
  std::set<std::string> ran, skipped;
  auto result = run_dag(
      tasks, 2,
      [&](const std::string& name) {
        std::lock_guard lock(m);
        ran.insert(name);
        return name == "a" ? TaskOutcome::failed : TaskOutcome::passed;
      },
      [&](const std::string& name, const std::string&) {
        std::lock_guard lock(m);
        skipped.insert(name);
      });
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_TRUE(result->failed);
  EXPECT_EQ(ran, (std::set<std::string>{"a", "d", "e"}));
  EXPECT_EQ(skipped, (std::set<std::string>{"b", "c"}));
  EXPECT_EQ(result->skipped.at("c"), "a");  // the failed task, not the skipped link between
}

TEST(StageScheduler, NeverRunsMoreThanJobsAtOnce_AndRespectsNeeds) {
  std::vector<DagTask> tasks;
  for (int i = 0; i < 6; ++i) tasks.push_back({"t" + std::to_string(i), {}});
  tasks.push_back({"last", {"t0", "t1", "t2", "t3", "t4", "t5"}});
  std::atomic<int> running{0}, peak{0}, done{0};
  std::atomic<bool> last_early{false};
  auto result = run_dag(
      tasks, 3,
      [&](const std::string& name) {
        if (name == "last" && done.load() != 6) last_early = true;
        int now = ++running;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        --running;
        ++done;
        return TaskOutcome::passed;
      },
      [](const std::string&, const std::string&) {});
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->failed);
  EXPECT_LE(peak.load(), 3);
  EXPECT_FALSE(last_early.load());
}

TEST(StageScheduler, AllowedFailureLetsDependantsRun) {
  std::vector<DagTask> tasks = {{"a", {}}, {"b", {"a"}}};
  std::set<std::string> ran;
  auto result = run_dag(
      tasks, 1,
      [&](const std::string& name) {
        ran.insert(name);
        return name == "a" ? TaskOutcome::failed_allowed : TaskOutcome::passed;
      },
      [](const std::string&, const std::string&) {});
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->failed);
  EXPECT_EQ(ran.size(), 2u);
}

TEST(StageScheduler, CycleIsRefusedBeforeAnythingRuns) {
  bool ran = false;
  auto result = run_dag(
      {{"a", {"b"}}, {"b", {"a"}}}, 2,
      [&](const std::string&) {
        ran = true;
        return TaskOutcome::passed;
      },
      [](const std::string&, const std::string&) {});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("cycle"), std::string::npos);
  EXPECT_FALSE(ran);
}

TEST(SecretMasker, MasksEveryOccurrence_LongestFirst_AndLinesOfMultiLineValues) {
  SecretMasker m;
  m.add("abc");
  m.add("abcdef");
  m.add("line-one\nline-two");
  m.add("");
  EXPECT_EQ(m.mask("x abcdef y abc z"), "x *** y *** z");
  EXPECT_EQ(m.mask("got line-two here"), "got *** here");
  EXPECT_EQ(m.mask("nothing"), "nothing");
}

TEST(StageKey, ChangesWithWhatTheStageSees_NotWithSecretValues) {
  pipeline::StageDef stage;
  stage.name = "unit";
  stage.run = {"make test"};
  stage.environment = "test";
  nlohmann::json ws = {{"tree", "1111"}};
  auto base = typed_json_digest(stage_key_record(stage, "sha256:aa", "test", ws, {}));
  EXPECT_EQ(base, typed_json_digest(stage_key_record(stage, "sha256:aa", "test", ws, {})));
  EXPECT_NE(base, typed_json_digest(stage_key_record(stage, "sha256:bb", "test", ws, {})));
  EXPECT_NE(base, typed_json_digest(stage_key_record(stage, "sha256:aa", "test", {{"tree", "2222"}}, {})));
  EXPECT_NE(base, typed_json_digest(stage_key_record(stage, "sha256:aa", "test", ws, {{"build", "sha256:cc"}})));
  auto with_env = stage;
  with_env.env.push_back({"MODE", "fast"});
  EXPECT_NE(base, typed_json_digest(stage_key_record(with_env, "sha256:aa", "test", ws, {})));
  // The typed encoding keeps ["ab","c"] and ["a","bc"] apart.
  EXPECT_NE(typed_json_digest(nlohmann::json::array({"ab", "c"})),
            typed_json_digest(nlohmann::json::array({"a", "bc"})));
}

class StoresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = cache::Store::open(dir_ / "store");
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
  }
  ScratchDir dir_;
  std::unique_ptr<cache::Store> store_;
};

TEST_F(StoresTest, RunRecordRoundTrips_WithImagesAndStages_ByIdPrefix) {
  cache::RunStore runs(*store_);
  cache::RunRecord run;
  run.id = "20260101-000000-abcd";
  run.repo = "/srv/repo";
  run.rev = "HEAD";
  run.commit = std::string(40, 'c');
  run.pipeline_file = ".gantry.yml";
  run.pipeline_digest = "sha256:" + std::string(64, 'd');
  run.started_ms = 1000;
  run.images = {{"app", "sha256:" + std::string(64, 'a'), true}};
  ASSERT_TRUE(runs.create(run));
  cache::StageResult r;
  r.run_id = run.id;
  r.stage = "unit";
  r.environment = "test";
  r.status = "passed";
  r.exit_code = 0;
  r.duration_ms = 1234;
  ASSERT_TRUE(runs.put_stage(r));
  ASSERT_TRUE(runs.set_status(run.id, "waiting", "production", "", false));
  auto got = runs.get("20260101-000000");
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->status, "waiting");
  EXPECT_EQ(got->waiting_environment, "production");
  ASSERT_EQ(got->images.size(), 1u);
  ASSERT_EQ(got->stages.size(), 1u);
  EXPECT_EQ(got->stages[0].duration_ms, 1234);
  EXPECT_EQ(runs.get("nope").error().kind(), ErrorKind::not_found);
}

TEST_F(StoresTest, PromoteRecordsPrevious_RollbackWalksBackTheChain) {
  cache::EnvironmentStore envs(*store_);
  auto d = [](char c) { return "sha256:" + std::string(64, c); };
  ASSERT_TRUE(envs.promote("app", "prod", d('1'), "c1", "r1"));
  ASSERT_TRUE(envs.promote("app", "prod", d('2'), "c2", "r2"));
  auto same = envs.promote("app", "prod", d('2'), "c2", "r3");
  ASSERT_TRUE(same);
  EXPECT_FALSE(same->has_value());  // already there: no event
  ASSERT_TRUE(envs.promote("app", "prod", d('3'), "c3", "r3"));
  auto p = envs.get("app", "prod");
  ASSERT_TRUE(p && *p);
  EXPECT_EQ((*p)->previous_digest, d('2'));

  auto back = envs.rollback("app", "prod");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->digest, d('2'));
  EXPECT_EQ(back->replaced_digest, d('3'));
  EXPECT_EQ(back->run_id, "r2");
  back = envs.rollback("app", "prod");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->digest, d('1'));
  auto none = envs.rollback("app", "prod");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind(), ErrorKind::conflict);
  EXPECT_EQ((*envs.get("app", "prod"))->digest, d('1'));
  EXPECT_TRUE(*envs.was_promoted("app", "prod", d('3')));
  EXPECT_FALSE(*envs.was_promoted("app", "test", d('3')));
  auto history = envs.history("app");
  ASSERT_TRUE(history);
  EXPECT_EQ(history->size(), 5u);  // 3 promotions, 2 rollbacks
}

}  // namespace
}  // namespace gantry::runner
