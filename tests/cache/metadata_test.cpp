// The contract of the metadata interface (cache/metadata.h), run against every
// backend: SQLite, and PostgreSQL (pgstore/, issue 17) on a real server the
// test starts itself (tests/support/pg_server.h; skipped, with the reason,
// only where PostgreSQL's binaries are not installed). Neither root nor a
// container is needed.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cache/metadata.h"
#include "cache/store.h"
#include "pgstore/pg_metadata.h"
#include "tests/support/pg_server.h"
#include "tests/support/test_support.h"

namespace gantry::cache {
namespace {

using gantry::testing::ScratchDir;

// A backend: opens a new connection to the database that lives under `dir`
// (created on first use). Every call is another connection, as another
// process would have.
struct MetadataBackend {
  std::string name;
  std::function<std::shared_ptr<Metadata>(const std::string& dir)> connect;
  // Why this backend cannot run here ("" = it can): the test skips with it.
  std::function<std::string()> unavailable = [] { return std::string(); };
};

std::shared_ptr<Metadata> connect_sqlite(const std::string& dir) {
  auto store = Store::open(dir + "/store");
  if (!store) {
    ADD_FAILURE() << store.error().message();
    return nullptr;
  }
  std::shared_ptr<Store> owner(std::move(*store));
  return std::shared_ptr<Metadata>(owner, &owner->metadata());
}

// One database per test dir on the process's PostgreSQL server, created on
// the first connect (the test's own, before any child process connects).
std::shared_ptr<Metadata> connect_postgres(const std::string& dir) {
  auto& server = gantry::testing::shared_pg_server();
  if (!server.running()) {
    ADD_FAILURE() << "PostgreSQL did not start: " << server.error();
    return nullptr;
  }
  const std::string marker = dir + "/pg-database";
  std::string url;
  if (::access(marker.c_str(), F_OK) == 0) {
    url = gantry::testing::read_file_or_die(marker);
  } else {
    url = server.create_database("contract_" + std::to_string(::getpid()) + "_" +
                                 std::to_string(std::hash<std::string>{}(dir) % 1000000007));
    gantry::testing::write_file(marker, url);
  }
  auto meta = pgstore::PgMetadata::connect(url);
  if (!meta) {
    ADD_FAILURE() << meta.error().message();
    return nullptr;
  }
  return std::shared_ptr<Metadata>(std::move(*meta));
}

// Only missing binaries skip; a server that failed to start fails in connect().
std::string postgres_unavailable() { return gantry::testing::shared_pg_server().skip_reason(); }

std::string digest(char c) { return "sha256:" + std::string(64, c); }

RunRecord make_run(const std::string& id, std::int64_t started_ms, const std::string& project = "p",
                   RunStatus status = RunStatus::passed, const std::string& image = "app") {
  RunRecord run;
  run.id = id;
  run.repo = "/srv/" + project;
  run.project = project;
  run.rev = "HEAD";
  run.commit = std::string(40, 'c');
  run.pipeline_file = ".gantry.yml";
  run.pipeline_digest = digest('f');
  run.status = status;
  run.started_ms = started_ms;
  run.images = {{image, digest('a'), true}};
  return run;
}

PointerMove move_to(const std::string& d, const std::string& run_id = "r1") {
  return {.project = "p", .image = "app", .environment = "prod", .digest = d, .commit = "c-" + run_id, .run_id = run_id};
}

class MetadataContract : public ::testing::TestWithParam<MetadataBackend> {
 protected:
  void SetUp() override {
    if (auto why = GetParam().unavailable(); !why.empty()) GTEST_SKIP() << why;
    meta_ = connect();
    ASSERT_TRUE(meta_);
  }
  std::shared_ptr<Metadata> connect() { return GetParam().connect(dir_.path()); }
  ScratchDir dir_;
  std::shared_ptr<Metadata> meta_;
};

TEST_P(MetadataContract, Run_RoundTripsWithImagesStagesBuildStepsAndGates_ByAnyUniquePartOfItsId) {
  auto run = make_run("20260101-000000-abcd", 1000);
  ASSERT_TRUE(meta_->create_run(run));
  StageResult unit{.run_id = run.id, .stage = "unit", .environment = "test", .status = StageStatus::pending};
  StageResult lint{.run_id = run.id, .stage = "lint", .environment = "test", .status = StageStatus::pending};
  ASSERT_TRUE(meta_->record_stage(unit));
  ASSERT_TRUE(meta_->record_stage(lint));
  unit.status = StageStatus::passed;
  unit.exit_code = 0;
  unit.duration_ms = 1234;
  ASSERT_TRUE(meta_->record_stage(unit));  // replaced: keeps its place before lint
  ASSERT_TRUE(meta_->record_build_step(run.id, {.image = "app", .index = 1, .kind = "run", .step = "run: make",
                                                .key = digest('k'), .status = StepStatus::passed}));
  ASSERT_TRUE(meta_->record_gate(run.id, {.environment = "prod",
                                          .how = GateOutcome::promoted,
                                          .detail = "gantry promote",
                                          .time_ms = 5}));
  ASSERT_TRUE(meta_->set_run_images(run.id, {{"lib", digest('b'), false}}));
  ASSERT_TRUE(meta_->set_run_status(run.id, RunStatus::waiting, "production", "", false));

  for (const char* part : {"20260101-000000-abcd", "20260101-000000", "abcd"}) {
    auto got = meta_->find_run(part);
    ASSERT_TRUE(got) << part << ": " << got.error().message();
    EXPECT_EQ(got->id, run.id);
    EXPECT_EQ(got->status, RunStatus::waiting);
    EXPECT_EQ(got->waiting_environment, "production");
    EXPECT_EQ(got->project, "p");
    ASSERT_EQ(got->images.size(), 2u);
    ASSERT_EQ(got->stages.size(), 2u);
    EXPECT_EQ(got->stages[0].stage, "unit");
    EXPECT_EQ(got->stages[0].status, StageStatus::passed);
    EXPECT_EQ(got->stages[0].duration_ms, 1234);
    EXPECT_EQ(got->stages[1].stage, "lint");
    ASSERT_EQ(got->build_steps.size(), 1u);
    EXPECT_EQ(got->build_steps[0].key, digest('k'));
    ASSERT_EQ(got->gates.size(), 1u);
    EXPECT_EQ(got->gates[0].how, GateOutcome::promoted);
  }
  EXPECT_EQ(meta_->find_run("nope").error().kind(), ErrorKind::not_found);
  ASSERT_TRUE(meta_->create_run(make_run("20260101-000000-abce", 2000)));
  auto ambiguous = meta_->find_run("20260101-000000");
  ASSERT_FALSE(ambiguous);
  EXPECT_EQ(ambiguous.error().kind(), ErrorKind::invalid_input);
  EXPECT_NE(ambiguous.error().message().find("abcd"), std::string::npos) << ambiguous.error().message();
  EXPECT_TRUE(*meta_->has_run(run.id));
  EXPECT_FALSE(*meta_->has_run("20260101-000000"));
}

TEST_P(MetadataContract, ListRuns_NewestFirst_PagedAndFilteredByProjectImageAndStatus) {
  ASSERT_TRUE(meta_->create_run(make_run("r1", 1000, "p", RunStatus::passed)));
  ASSERT_TRUE(meta_->create_run(make_run("r2", 2000, "p", RunStatus::failed)));
  ASSERT_TRUE(meta_->create_run(make_run("r3", 3000, "q", RunStatus::passed, "web")));
  ASSERT_TRUE(meta_->create_run(make_run("r4", 4000, "p", RunStatus::passed)));
  auto ids = [&](const RunFilter& f) {
    std::vector<std::string> out;
    auto list = meta_->list_runs(f);
    EXPECT_TRUE(list) << list.error().message();
    if (list)
      for (const auto& r : *list) out.push_back(r.id);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({}), (V{"r4", "r3", "r2", "r1"}));
  EXPECT_EQ(ids({.limit = 2}), (V{"r4", "r3"}));
  EXPECT_EQ(ids({.limit = 2, .offset = 2}), (V{"r2", "r1"}));
  EXPECT_EQ(ids({.limit = 2, .offset = 4}), V{});
  EXPECT_EQ(ids({.project = "p"}), (V{"r4", "r2", "r1"}));
  EXPECT_EQ(ids({.project = "p", .status = "passed"}), (V{"r4", "r1"}));
  EXPECT_EQ(ids({.image = "web"}), V{"r3"});
  auto bare = meta_->list_runs({.limit = 1, .with_details = false});
  ASSERT_TRUE(bare);
  ASSERT_EQ(bare->size(), 1u);
  EXPECT_TRUE(bare->front().images.empty());
  EXPECT_EQ(*meta_->projects(), (V{"p", "q"}));
  EXPECT_EQ(*meta_->projects("web"), V{"q"});
}

TEST_P(MetadataContract, InterruptRun_MarksItAndItsUnfinishedStagesOnce) {
  ASSERT_TRUE(meta_->create_run(make_run("live", 1000, "p", RunStatus::running)));
  ASSERT_TRUE(meta_->create_run(make_run("done", 2000, "p", RunStatus::passed)));
  ASSERT_TRUE(meta_->record_stage({.run_id = "live", .stage = "a", .status = StageStatus::running}));
  ASSERT_TRUE(meta_->record_stage({.run_id = "live", .stage = "b", .status = StageStatus::pending}));
  ASSERT_TRUE(meta_->record_stage({.run_id = "live", .stage = "c", .status = StageStatus::passed}));
  EXPECT_EQ(*meta_->running_runs(), std::vector<std::string>{"live"});

  auto first = meta_->interrupt_run("live", "killed");
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_TRUE(*first);
  EXPECT_FALSE(*meta_->interrupt_run("live", "killed"));  // not running any more
  EXPECT_FALSE(*meta_->interrupt_run("done", "killed"));
  auto run = *meta_->find_run("live");
  EXPECT_EQ(run.status, RunStatus::interrupted);
  EXPECT_EQ(run.error, "killed");
  EXPECT_GT(run.finished_ms, 0);
  EXPECT_EQ(run.stages[0].status, StageStatus::interrupted);
  EXPECT_EQ(run.stages[0].detail, "the run was interrupted while it ran");
  EXPECT_EQ(run.stages[1].detail, "not started: the run was interrupted");
  EXPECT_EQ(run.stages[2].status, StageStatus::passed);
  EXPECT_EQ(meta_->find_run("done")->status, RunStatus::passed);
  EXPECT_TRUE(meta_->running_runs()->empty());
}

TEST_P(MetadataContract, RunsByAge_MarksRunsInUse_DeleteRunsKeepsThePromotionHistory) {
  ASSERT_TRUE(meta_->create_run(make_run("old", 1000)));
  ASSERT_TRUE(meta_->create_run(make_run("prod", 2000)));
  ASSERT_TRUE(meta_->create_run(make_run("cached", 3000)));
  ASSERT_TRUE(meta_->create_run(make_run("gate", 4000, "p", RunStatus::waiting)));
  ASSERT_TRUE(meta_->record_stage({.run_id = "old", .stage = "unit", .status = StageStatus::passed}));
  ASSERT_TRUE(meta_->promote(move_to(digest('1'), "prod")));
  ASSERT_TRUE(meta_->promote(move_to(digest('2'), "old")));
  ASSERT_TRUE(meta_->promote(move_to(digest('1'), "prod")));
  ASSERT_TRUE(meta_->put_cached_stage({.key = digest('k'), .record = "{}", .run_id = "cached", .stage = "unit"}));
  auto ages = meta_->runs_by_age();
  ASSERT_TRUE(ages) << ages.error().message();
  ASSERT_EQ(ages->size(), 4u);
  EXPECT_EQ((*ages)[0].id, "gate");
  EXPECT_EQ((*ages)[3].id, "old");
  EXPECT_TRUE((*ages)[0].in_use);   // waiting at a gate
  EXPECT_TRUE((*ages)[1].in_use);   // serves a cache entry
  EXPECT_TRUE((*ages)[2].in_use);   // named by the pointer
  EXPECT_FALSE((*ages)[3].in_use);  // promoted once, but the pointer moved on

  ASSERT_TRUE(meta_->delete_runs({"old"}));
  EXPECT_FALSE(*meta_->has_run("old"));
  EXPECT_EQ(meta_->find_run("old").error().kind(), ErrorKind::not_found);
  EXPECT_EQ(meta_->promotion_history({.run_id = "old"})->size(), 1u);  // the audit trail stays
}

TEST_P(MetadataContract, StageCacheAndWatchPositions_RoundTrip) {
  EXPECT_FALSE(*meta_->find_cached_stage(digest('k')));
  ASSERT_TRUE(meta_->put_cached_stage({.key = digest('k'), .record = "{\"v\":1}", .run_id = "r1", .stage = "unit",
                                       .exit_code = 0, .duration_ms = 77, .log_path = "/l", .created_ms = 9}));
  auto hit = meta_->find_cached_stage(digest('k'));
  ASSERT_TRUE(hit && *hit);
  EXPECT_EQ((*hit)->record, "{\"v\":1}");
  EXPECT_EQ((*hit)->duration_ms, 77);
  EXPECT_EQ((*hit)->created_ms, 9);

  EXPECT_FALSE(*meta_->watch_position("/repo", "main"));
  ASSERT_TRUE(meta_->set_watch_position("/repo", "main", "c1"));
  ASSERT_TRUE(meta_->set_watch_position("/repo", "main", "c2"));
  EXPECT_EQ(**meta_->watch_position("/repo", "main"), "c2");
}

TEST_P(MetadataContract, Promote_RecordsEachMove_AnUnchangedPointerRecordsNothing_RollbackWalksBack) {
  ASSERT_TRUE(*meta_->promote(move_to(digest('1'), "r1")));
  ASSERT_TRUE(*meta_->promote(move_to(digest('2'), "r2")));
  auto same = meta_->promote(move_to(digest('2'), "r3"));
  ASSERT_TRUE(same);
  EXPECT_FALSE(*same);
  auto pointer = **meta_->environment_pointer("p", "app", "prod");
  EXPECT_EQ(pointer.digest, digest('2'));
  EXPECT_EQ(pointer.previous_digest, digest('1'));
  EXPECT_EQ(pointer.run_id, "r2");

  auto back = meta_->rollback("p", "app", "prod");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->kind, PromotionKind::rollback);
  EXPECT_EQ(back->digest, digest('1'));
  EXPECT_EQ(back->replaced_digest, digest('2'));
  EXPECT_EQ(back->run_id, "r1");
  EXPECT_EQ(meta_->rollback("p", "app", "prod").error().kind(), ErrorKind::conflict);  // nothing before 1
  EXPECT_EQ(meta_->rollback("p", "app", "test").error().kind(), ErrorKind::not_found);

  auto history = *meta_->promotion_history({.project = "p", .image = "app"});
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].kind, PromotionKind::rollback);
  EXPECT_EQ(history[2].digest, digest('1'));
  EXPECT_EQ(meta_->promotion_history({.project = "p", .environment = "test"})->size(), 0u);
  EXPECT_TRUE(*meta_->was_promoted("p", "app", "prod", digest('2')));
  EXPECT_FALSE(*meta_->was_promoted("other", "app", "prod", digest('2')));
  EXPECT_EQ(meta_->environment_pointers("p")->size(), 1u);
  EXPECT_TRUE(meta_->environment_pointers("other")->empty());
}

TEST_P(MetadataContract, Promote_IsACompareAndSwap_AStaleExpectationChangesNothing) {
  auto first = meta_->promote({.project = "p", .image = "app", .environment = "prod", .digest = digest('1'),
                               .expected_digest = std::string()});  // "" = no pointer yet
  ASSERT_TRUE(first) << first.error().message();
  auto stale = move_to(digest('2'));
  stale.expected_digest = digest('9');
  auto refused = meta_->promote(stale);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::conflict);
  EXPECT_NE(refused.error().message().find("moved meanwhile"), std::string::npos) << refused.error().message();
  EXPECT_EQ((*meta_->environment_pointer("p", "app", "prod"))->digest, digest('1'));
  EXPECT_EQ(meta_->promotion_history({.project = "p"})->size(), 1u);

  stale.expected_digest = digest('1');
  ASSERT_TRUE(meta_->promote(stale));
  EXPECT_EQ((*meta_->environment_pointer("p", "app", "prod"))->digest, digest('2'));
  // A rollback expecting a digest the pointer left is refused too.
  auto back = meta_->rollback("p", "app", "prod", digest('1'));
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().kind(), ErrorKind::conflict);
  ASSERT_TRUE(meta_->rollback("p", "app", "prod", digest('2')));
  EXPECT_EQ((*meta_->environment_pointer("p", "app", "prod"))->digest, digest('1'));
}

TEST_P(MetadataContract, Promote_RefusedByItsRule_ChangesNothing) {
  auto skip = move_to(digest('1'));
  skip.environment = "production";
  skip.must_have_passed = {"test", "staging"};
  ASSERT_TRUE(meta_->promote({.project = "p", .image = "app", .environment = "test", .digest = digest('1')}));
  auto refused = meta_->promote(skip);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::conflict);
  EXPECT_NE(refused.error().message().find("has not passed staging"), std::string::npos) << refused.error().message();
  EXPECT_FALSE(*meta_->environment_pointer("p", "app", "production"));
  EXPECT_EQ(meta_->promotion_history({.project = "p"})->size(), 1u);
  ASSERT_TRUE(meta_->promote({.project = "p", .image = "app", .environment = "staging", .digest = digest('1')}));
  ASSERT_TRUE(meta_->promote(skip));
  EXPECT_EQ((*meta_->environment_pointer("p", "app", "production"))->digest, digest('1'));
}

TEST_P(MetadataContract, Refuse_RecordsARefusedEventWithItsReason_MovesNoPointer_RuleAndRollbackSkipIt) {
  ASSERT_TRUE(*meta_->promote(move_to(digest('0'), "r0")));
  ASSERT_TRUE(*meta_->promote(move_to(digest('1'), "r1")));
  // A refusal of 0 after 1 came in: between the events a rollback walks over.
  auto refused = meta_->refuse(move_to(digest('0'), "rx"), "rule require.signed_by failed: no signature");
  ASSERT_TRUE(refused) << refused.error().message();
  EXPECT_EQ(refused->kind, PromotionKind::refused);
  EXPECT_EQ(refused->digest, digest('0'));
  EXPECT_EQ(refused->replaced_digest, digest('1'));  // what the environment keeps
  EXPECT_EQ(refused->run_id, "rx");
  EXPECT_EQ(refused->reason, "rule require.signed_by failed: no signature");
  EXPECT_GT(refused->id, 0);
  auto pointer = **meta_->environment_pointer("p", "app", "prod");
  EXPECT_EQ(pointer.digest, digest('1'));
  EXPECT_EQ(pointer.run_id, "r1");
  EXPECT_EQ(pointer.previous_digest, digest('0'));

  // Another refusal, of a digest never promoted anywhere: it has not "passed" prod.
  ASSERT_TRUE(meta_->refuse(move_to(digest('5'), "r5"), "rule require.passed failed: smoke"));
  EXPECT_FALSE(*meta_->was_promoted("p", "app", "prod", digest('5')));
  auto skip = move_to(digest('5'), "r5");
  skip.environment = "live";
  skip.must_have_passed = {"prod"};
  auto skipped = meta_->promote(skip);
  ASSERT_FALSE(skipped);
  EXPECT_EQ(skipped.error().kind(), ErrorKind::conflict);

  // The history holds them, newest first, with their reasons, from a new connection too.
  auto other = connect();
  ASSERT_TRUE(other);
  auto history = *other->promotion_history({.project = "p", .environment = "prod"});
  ASSERT_EQ(history.size(), 4u);
  EXPECT_EQ(history[0].kind, PromotionKind::refused);
  EXPECT_EQ(history[0].digest, digest('5'));
  EXPECT_EQ(history[0].reason, "rule require.passed failed: smoke");
  EXPECT_EQ(history[1].kind, PromotionKind::refused);
  EXPECT_EQ(history[1].reason, "rule require.signed_by failed: no signature");
  EXPECT_EQ(history[2].kind, PromotionKind::promote);
  EXPECT_EQ(history[2].reason, "");
  EXPECT_EQ(promotion_event_json(history[0]).value("reason", ""), "rule require.passed failed: smoke");
  EXPECT_FALSE(promotion_event_json(history[2]).contains("reason"));

  // Rollback skips refused events: 1 -> 0 restores run r0's commit and run,
  // not the refusal's (which names digest 0 too).
  auto back = meta_->rollback("p", "app", "prod");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->digest, digest('0'));
  EXPECT_EQ(back->run_id, "r0");
  EXPECT_EQ(back->commit, "c-r0");
  pointer = **meta_->environment_pointer("p", "app", "prod");
  EXPECT_EQ(pointer.digest, digest('0'));
  EXPECT_EQ(pointer.run_id, "r0");
  EXPECT_EQ(pointer.previous_digest, "");
  EXPECT_EQ(meta_->rollback("p", "app", "prod").error().kind(), ErrorKind::conflict);  // nothing before 0

  // A refusal into an environment with no pointer makes none.
  ASSERT_TRUE(meta_->refuse({.project = "p", .image = "app", .environment = "staging", .digest = digest('7')},
                            "rule order: it has not passed test"));
  EXPECT_FALSE(*meta_->environment_pointer("p", "app", "staging"));
  EXPECT_EQ(meta_->environment_pointers("p")->size(), 1u);
}

// Runs `body(i)` in `n` child processes released at once; returns their exit codes.
std::vector<int> race(int n, const std::function<int(int)>& body) {
  int go[2];
  EXPECT_EQ(::pipe(go), 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(go[1]);
      char c;
      if (::read(go[0], &c, 1) != 0) ::_exit(90);  // EOF: every process starts together
      ::_exit(body(i));
    }
    pids.push_back(pid);
  }
  ::close(go[0]);
  ::close(go[1]);
  std::vector<int> codes;
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  return codes;
}

TEST_P(MetadataContract, TwoProcessesMovingOnePointerFromTheSameDigest_ExactlyOneWins) {
  ASSERT_TRUE(meta_->promote(move_to(digest('0'), "r0")));
  constexpr int kProcesses = 6;
  const std::string dir = dir_.path();
  auto backend = GetParam();
  auto codes = race(kProcesses, [&](int i) {
    auto meta = backend.connect(dir);  // its own connection, in its own process
    if (!meta) return 3;
    auto move = move_to(digest(static_cast<char>('a' + i)), "r" + std::to_string(i + 1));
    move.expected_digest = digest('0');
    auto moved = meta->promote(move);
    if (moved) return 0;
    return moved.error().kind() == ErrorKind::conflict ? 1 : 2;
  });
  int winners = 0, refused = 0;
  int winner = -1;
  for (int i = 0; i < kProcesses; ++i) {
    if (codes[i] == 0) ++winners, winner = i;
    if (codes[i] == 1) ++refused;
  }
  EXPECT_EQ(winners, 1);
  EXPECT_EQ(refused, kProcesses - 1);
  ASSERT_GE(winner, 0);
  auto pointer = **meta_->environment_pointer("p", "app", "prod");
  EXPECT_EQ(pointer.digest, digest(static_cast<char>('a' + winner)));
  EXPECT_EQ(pointer.previous_digest, digest('0'));
  EXPECT_EQ(meta_->promotion_history({.project = "p"})->size(), 2u);
}

TEST_P(MetadataContract, ConcurrentPromotionsFromManyProcesses_AreSerializedIntoOneConsistentHistory) {
  constexpr int kProcesses = 6;
  const std::string dir = dir_.path();
  auto backend = GetParam();
  auto codes = race(kProcesses, [&](int i) {
    auto meta = backend.connect(dir);
    if (!meta) return 3;
    return meta->promote(move_to(digest(static_cast<char>('a' + i)), "r" + std::to_string(i))) ? 0 : 1;
  });
  for (int code : codes) EXPECT_EQ(code, 0);
  auto history = *meta_->promotion_history({.project = "p"});
  ASSERT_EQ(history.size(), static_cast<std::size_t>(kProcesses));
  // Newest first: each event moved the pointer away from the one before it.
  for (std::size_t i = 0; i + 1 < history.size(); ++i)
    EXPECT_EQ(history[i].replaced_digest, history[i + 1].digest) << i;
  EXPECT_EQ(history.back().replaced_digest, "");
  EXPECT_EQ((*meta_->environment_pointer("p", "app", "prod"))->digest, history.front().digest);
}

TEST_P(MetadataContract, StepCache_FirstWriterWins_PreviousAndImageBuilds) {
  const Digest k1 = Digest::of("k1"), k2 = Digest::of("k2");
  StepCacheEntry e1{.key = k1, .record = "{\"r\":1}", .image = "app", .step_index = 0, .created = 100};
  e1.layer = LayerDescriptor{.digest = Digest::of("blob"), .diff_id = Digest::of("tar"), .size = 42,
                             .media_type = "application/vnd.oci.image.layer.v1.tar+gzip"};
  ASSERT_TRUE(meta_->put_step(e1));
  StepCacheEntry other = e1;
  other.record = "{\"r\":2}";
  ASSERT_TRUE(meta_->put_step(other));  // same key: the stored entry stays
  EXPECT_EQ((*meta_->find_step(k1))->record, "{\"r\":1}");
  EXPECT_FALSE(*meta_->find_step(k2));
  EXPECT_EQ(*meta_->step_keys(), std::vector<Digest>{k1});

  ASSERT_TRUE(meta_->record_image_build({.image = "app", .manifest_digest = Digest::of("m1"), .step_keys = {k1},
                                         .created = 1, .image_key = Digest::of("ik")}));
  EXPECT_EQ((*meta_->previous_step("app", 0, k2))->key, k1);
  EXPECT_FALSE(*meta_->previous_step("app", 0, k1));
  EXPECT_EQ(**meta_->manifest_for_image_key(Digest::of("ik")), Digest::of("m1"));
  EXPECT_FALSE(*meta_->manifest_for_image_key(Digest::of("nope")));
  EXPECT_EQ(meta_->image_builds("app", 5)->size(), 1u);

  DeferredStep deferred{.key = k2, .entry = "{}", .registry = "127.0.0.1:5000", .repository = "cache",
                        .insecure = true, .created = 7};
  ASSERT_TRUE(meta_->defer_steps({deferred}));
  auto found = meta_->find_deferred_step(k2);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->registry, "127.0.0.1:5000");
  EXPECT_TRUE((*found)->insecure);
  StepCacheEntry e2{.key = k2, .record = "{\"r\":3}", .image = "app", .step_index = 1, .created = 200};
  ASSERT_TRUE(meta_->adopt_deferred_step(e2));
  EXPECT_FALSE(*meta_->find_deferred_step(k2));
  EXPECT_TRUE(*meta_->find_step(k2));
}

INSTANTIATE_TEST_SUITE_P(Backends, MetadataContract,
                         ::testing::Values(MetadataBackend{"sqlite", connect_sqlite},
                                           MetadataBackend{"postgresql", connect_postgres, postgres_unavailable}),
                         [](const auto& param_info) { return param_info.param.name; });

// SQLite only: a promotion whose second write fails leaves neither the event
// nor the pointer (one transaction), injected with a trigger on the pointer table.
TEST(SqliteMetadata, APromotionThatFailsHalfwayLeavesNoEventBehind) {
  ScratchDir dir;
  auto store = Store::open(dir / "store");
  ASSERT_TRUE(store) << store.error().message();
  Metadata& meta = (*store)->metadata();
  ASSERT_TRUE(meta.promote(move_to(digest('1'))));
  ASSERT_TRUE((*store)->db().exec("CREATE TEMP TRIGGER fail_pointer BEFORE UPDATE ON environments"
                                  " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
                                  "CREATE TEMP TRIGGER fail_pointer_ins BEFORE INSERT ON environments"
                                  " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"));
  auto moved = meta.promote(move_to(digest('2')));
  ASSERT_FALSE(moved);
  EXPECT_NE(moved.error().message().find("injected failure"), std::string::npos) << moved.error().message();
  EXPECT_EQ(meta.promotion_history({.project = "p"})->size(), 1u);
  EXPECT_EQ((*meta.environment_pointer("p", "app", "prod"))->digest, digest('1'));
}

}  // namespace
}  // namespace gantry::cache
