// gc's retention rule for runs: the newest N and the young stay, runs still in
// use stay whatever their age, everything else goes with its files.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "cache/metadata.h"
#include "cache/store.h"
#include "cache/store_maintenance.h"
#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

using gantry::testing::ScratchDir;

constexpr std::int64_t kDay = 86'400'000;
constexpr std::int64_t kNow = 1'800'000'000'000;

struct RetentionStore {
  ScratchDir dir;
  std::unique_ptr<Store> store = testing::open_store(dir / "s", StoreLock::exclusive);

  void add_run(const std::string& id, std::int64_t age_days, RunStatus status = RunStatus::passed) {
    RunRecord run;
    run.id = id;
    run.repo = "/repo";
    run.rev = "HEAD";
    run.commit = std::string(40, 'c');
    run.pipeline_file = ".gantry.yml";
    run.pipeline_digest = "sha256:" + std::string(64, 'p');
    run.status = status;
    run.started_ms = kNow - age_days * kDay;
    run.finished_ms = run.started_ms + 1000;
    run.images = {{"app", "sha256:" + std::string(64, 'a'), true}};
    ASSERT_TRUE(store->metadata().create_run(run));
    StageResult stage;
    stage.run_id = id;
    stage.stage = "unit";
    stage.status = StageStatus::passed;
    ASSERT_TRUE(store->metadata().record_stage(stage));
    ASSERT_TRUE(store->db().exec(
        "INSERT INTO run_build_steps (run_id, image, step_index, kind, step, key, status, cached, duration_ms,"
        " log_path, detail) VALUES ('" + id + "', 'app', 1, 'run', 'run: make', 'k', 'passed', 0, 1, '', '')"));
    gantry::testing::write_file(store->paths().run_dir(id) + "/unit.log", "log of " + id);
  }
  bool has_row(const std::string& id) { return bool(*store->db().query_text("SELECT id FROM runs WHERE id = ?1", id)); }
  bool has_dir(const std::string& id) {
    struct stat st {};
    return ::stat(store->paths().run_dir(id).c_str(), &st) == 0;
  }
  std::int64_t count(const char* table) { return std::stoll(**store->db().query_text(std::string("SELECT count(*) FROM ") + table)); }
};

TEST(RunRetention, KeepsNewestAndYoungAndPrunesTheRestWithTheirLogs) {
  RetentionStore s;
  s.add_run("r-new", 1);
  s.add_run("r-mid", 10);
  s.add_run("r-old1", 40);
  s.add_run("r-old2", 50);
  auto report = prune_runs(*s.store, RetentionRule{1, 30}, false, kNow);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->runs_pruned, 2u);
  EXPECT_TRUE(s.has_row("r-new"));
  EXPECT_TRUE(s.has_row("r-mid")) << "younger than keep_days, though past keep_runs";
  EXPECT_TRUE(s.has_dir("r-mid"));
  for (const char* gone : {"r-old1", "r-old2"}) {
    EXPECT_FALSE(s.has_row(gone)) << gone;
    EXPECT_FALSE(s.has_dir(gone)) << gone << ": its logs go with it";
  }
  EXPECT_EQ(s.count("stage_results"), 2);
  EXPECT_EQ(s.count("run_images"), 2);
  EXPECT_EQ(s.count("run_build_steps"), 2);
}

TEST(RunRetention, NeverPrunesARunThatAPointerACacheEntryOrAGateStillUses) {
  RetentionStore s;
  s.add_run("r-prod", 400);
  s.add_run("r-cache", 400);
  s.add_run("r-gate", 400, RunStatus::waiting);
  s.add_run("r-live", 400, RunStatus::running);
  s.add_run("r-unused", 400);
  ASSERT_TRUE(s.store->metadata().promote({.project = "p",
                                            .image = "app",
                                            .environment = "production",
                                            .digest = "sha256:" + std::string(64, 'a'),
                                            .commit = std::string(40, 'c'),
                                            .run_id = "r-prod"}));
  CachedStage entry;
  entry.key = "sha256:" + std::string(64, 'k');
  entry.record = "{}";
  entry.run_id = "r-cache";
  entry.stage = "unit";
  entry.log_path = s.store->paths().run_dir("r-cache") + "/unit.log";
  ASSERT_TRUE(s.store->metadata().put_cached_stage(entry));

  auto report = prune_runs(*s.store, RetentionRule{0, 0}, false, kNow);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->runs_pruned, 1u);
  EXPECT_EQ(report->runs_kept_in_use, 4u);
  for (const char* kept : {"r-prod", "r-cache", "r-gate", "r-live"}) {
    EXPECT_TRUE(s.has_row(kept)) << kept;
    EXPECT_TRUE(s.has_dir(kept)) << kept;
  }
  EXPECT_FALSE(s.has_row("r-unused"));
}

TEST(RunRetention, DryRunChangesNothingAndOrphanDirsAreSwept) {
  RetentionStore s;
  s.add_run("r-old", 400);
  auto dry = prune_runs(*s.store, RetentionRule{0, 0}, true, kNow);
  ASSERT_TRUE(dry);
  EXPECT_EQ(dry->runs_pruned, 1u);
  EXPECT_TRUE(s.has_row("r-old"));
  EXPECT_TRUE(s.has_dir("r-old"));

  gantry::testing::write_file(s.store->paths().run_dir("r-orphan") + "/x.log", "no row names me");
  auto report = prune_runs(*s.store, RetentionRule{100, 30}, false, kNow);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->orphan_dirs_removed, 1u);
  EXPECT_FALSE(s.has_dir("r-orphan"));
  EXPECT_TRUE(s.has_dir("r-old")) << "kept by keep_runs";
}

TEST(RunRetention, NegativeKeepRunsIsAUsageErrorThatChangesNothing) {
  RetentionStore s;
  s.add_run("r-old", 400);
  s.store.reset();
  for (auto flag : {"--keep-runs", "--keep-days"}) {
    auto r = gantry::testing::run_gantry(s.dir / "s", {"gc", flag, "-1"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(flag), std::string::npos) << r.err;
  }
  s.store = testing::open_store(s.dir / "s", StoreLock::exclusive);
  EXPECT_TRUE(s.has_row("r-old"));
  EXPECT_TRUE(s.has_dir("r-old"));
}

}  // namespace
}  // namespace gantry::cache
