// The states gantry records (cache/states.h): every value has one string, the
// string a user's script reads in meta.db, PostgreSQL, `--json` and the HTTP
// API; the string parses back to the value; anything else is refused with the
// string named, also when it comes out of meta.db.
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cache/metadata.h"
#include "cache/states.h"
#include "cache/store.h"
#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

using gantry::testing::ScratchDir;

// Each value with the exact string it is stored and shown as (never change
// one: users' scripts compare them).
template <typename E>
using Spellings = std::vector<std::pair<E, std::string>>;

const Spellings<RunStatus> kRun = {{RunStatus::running, "running"},
                                   {RunStatus::passed, "passed"},
                                   {RunStatus::failed, "failed"},
                                   {RunStatus::waiting, "waiting"},
                                   {RunStatus::interrupted, "interrupted"}};
const Spellings<StageStatus> kStage = {{StageStatus::pending, "pending"},     {StageStatus::running, "running"},
                                       {StageStatus::passed, "passed"},       {StageStatus::failed, "failed"},
                                       {StageStatus::skipped, "skipped"},     {StageStatus::cancelled, "cancelled"},
                                       {StageStatus::interrupted, "interrupted"}};
const Spellings<StepStatus> kStep = {{StepStatus::passed, "passed"}, {StepStatus::failed, "failed"}};
const Spellings<GateOutcome> kGate = {{GateOutcome::promoted, "promoted"},
                                      {GateOutcome::already_there, "already-there"},
                                      {GateOutcome::refused, "refused"}};
const Spellings<PromotionKind> kKind = {{PromotionKind::promote, "promote"},
                                        {PromotionKind::rollback, "rollback"},
                                        {PromotionKind::refused, "refused"}};

// Round trip of every value: to its string, in JSON as that string, in a
// stream as that string, and back; the table covers every enumerator (the
// last one's number + 1 values).
template <typename E, typename Parse>
void expect_round_trip(const Spellings<E>& spellings, Parse parse) {
  for (std::size_t i = 0; i < spellings.size(); ++i) {
    const auto& [value, text] = spellings[i];
    EXPECT_EQ(static_cast<std::size_t>(value), i) << text << ": the table lists the enumerators in order";
    EXPECT_EQ(to_string(value), text);
    EXPECT_EQ(nlohmann::json(value), nlohmann::json(text));
    std::ostringstream shown;
    shown << value;
    EXPECT_EQ(shown.str(), text);
    auto back = parse(text);
    ASSERT_TRUE(back) << text << ": " << back.error().message();
    EXPECT_EQ(*back, value) << text;
  }
}

// Anything but one of the strings (another state's, a different case, padded,
// empty) is refused, naming what was read.
template <typename Parse>
void expect_refused(Parse parse, const std::vector<std::string>& bad) {
  for (const auto& text : bad) {
    auto parsed = parse(text);
    ASSERT_FALSE(parsed) << "'" << text << "' was accepted";
    EXPECT_EQ(parsed.error().kind(), ErrorKind::corrupt) << text;
    EXPECT_NE(parsed.error().message().find("\"" + text + "\""), std::string::npos) << parsed.error().message();
  }
}

TEST(States, RunStatus_EveryValueRoundTripsThroughItsString_OthersAreRefused) {
  expect_round_trip(kRun, parse_run_status);
  expect_refused(parse_run_status, {"", "Passed", "passed ", "pending", "cancelled", "done", "queued"});
}

TEST(States, StageStatus_EveryValueRoundTripsThroughItsString_OthersAreRefused) {
  expect_round_trip(kStage, parse_stage_status);
  expect_refused(parse_stage_status, {"", "PASSED", "waiting", "cached", "queued"});
}

TEST(States, StepStatus_EveryValueRoundTripsThroughItsString_OthersAreRefused) {
  expect_round_trip(kStep, parse_step_status);
  expect_refused(parse_step_status, {"", "skipped", "cached", "hit", "miss"});
}

TEST(States, GateOutcome_EveryValueRoundTripsThroughItsString_OthersAreRefused) {
  expect_round_trip(kGate, parse_gate_outcome);
  expect_refused(parse_gate_outcome, {"", "already_there", "promote", "Promoted"});
}

TEST(States, PromotionKind_EveryValueRoundTripsThroughItsString_OthersAreRefused) {
  expect_round_trip(kKind, parse_promotion_kind);
  expect_refused(parse_promotion_kind, {"", "promoted", "rolled back", "Refused"});
}

// What the store writes is the string, and what it reads back is the value;
// a row whose state no gantry writes (an edited or newer meta.db) fails the
// read with the state and the run named, never a silent default.
TEST(States, MetaDb_StoresTheStrings_AndAnUnknownStateFailsTheReadNamingIt) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s", StoreLock::exclusive);
  Metadata& meta = store->metadata();
  RunRecord run{.id = "r1", .repo = "/repo", .rev = "HEAD", .commit = std::string(40, 'c'),
                .pipeline_file = ".gantry.yml", .pipeline_digest = "sha256:" + std::string(64, 'p')};
  ASSERT_TRUE(meta.create_run(run));
  ASSERT_TRUE(meta.record_stage({.run_id = "r1", .stage = "unit", .status = StageStatus::cancelled}));
  ASSERT_TRUE(meta.record_build_step("r1", {.image = "app", .index = 1, .status = StepStatus::failed}));
  ASSERT_TRUE(meta.record_gate("r1", {.environment = "prod", .how = GateOutcome::already_there}));
  ASSERT_TRUE(meta.set_run_status("r1", RunStatus::waiting, "prod", "", false));

  auto text = [&](const std::string& sql) -> std::string {
    auto st = store->db().prepare(sql);
    if (!st) {
      ADD_FAILURE() << sql << ": " << st.error().message();
      return "";
    }
    auto row = st->step();
    if (!row || !*row) {
      ADD_FAILURE() << sql << ": no row";
      return "";
    }
    return st->column_text(0);
  };
  EXPECT_EQ(text("SELECT status FROM runs WHERE id = 'r1'"), "waiting");
  EXPECT_EQ(text("SELECT status FROM stage_results WHERE run_id = 'r1'"), "cancelled");
  EXPECT_EQ(text("SELECT status FROM run_build_steps WHERE run_id = 'r1'"), "failed");
  EXPECT_EQ(text("SELECT how FROM run_gates WHERE run_id = 'r1'"), "already-there");

  auto got = meta.find_run("r1");
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->status, RunStatus::waiting);
  ASSERT_EQ(got->stages.size(), 1u);
  EXPECT_EQ(got->stages[0].status, StageStatus::cancelled);
  ASSERT_EQ(got->build_steps.size(), 1u);
  EXPECT_EQ(got->build_steps[0].status, StepStatus::failed);
  ASSERT_EQ(got->gates.size(), 1u);
  EXPECT_EQ(got->gates[0].how, GateOutcome::already_there);

  ASSERT_TRUE(store->db().exec("UPDATE stage_results SET status = 'paused' WHERE run_id = 'r1'"));
  auto bad_stage = meta.find_run("r1");
  ASSERT_FALSE(bad_stage);
  EXPECT_EQ(bad_stage.error().kind(), ErrorKind::corrupt);
  EXPECT_NE(bad_stage.error().message().find("\"paused\""), std::string::npos) << bad_stage.error().message();
  EXPECT_NE(bad_stage.error().message().find("stage unit of run r1"), std::string::npos)
      << bad_stage.error().message();

  ASSERT_TRUE(store->db().exec("UPDATE runs SET status = 'succeeded' WHERE id = 'r1'"));
  auto bad_run = meta.list_runs({});
  ASSERT_FALSE(bad_run);
  EXPECT_EQ(bad_run.error().kind(), ErrorKind::corrupt);
  EXPECT_NE(bad_run.error().message().find("\"succeeded\""), std::string::npos) << bad_run.error().message();
  EXPECT_NE(bad_run.error().message().find("run r1"), std::string::npos) << bad_run.error().message();
}

TEST(States, MetaDb_APromotionEventOfAnUnknownKindFailsTheHistoryNamingIt) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s", StoreLock::exclusive);
  Metadata& meta = store->metadata();
  PointerMove move{.project = "p", .image = "app", .environment = "prod",
                   .digest = "sha256:" + std::string(64, '1'), .commit = "c1", .run_id = "r1"};
  auto promoted = meta.promote(move);
  ASSERT_TRUE(promoted && *promoted);
  EXPECT_EQ((*promoted)->kind, PromotionKind::promote);
  auto refused = meta.refuse(move, "rule require.passed failed: smoke");
  ASSERT_TRUE(refused);
  auto history = meta.promotion_history({.project = "p"});
  ASSERT_TRUE(history) << history.error().message();
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].kind, PromotionKind::refused);
  EXPECT_EQ((*history)[1].kind, PromotionKind::promote);

  ASSERT_TRUE(store->db().exec("UPDATE promotions SET kind = 'demote' WHERE kind = 'refused'"));
  auto bad = meta.promotion_history({.project = "p"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind(), ErrorKind::corrupt);
  EXPECT_NE(bad.error().message().find("\"demote\""), std::string::npos) << bad.error().message();
}

}  // namespace
}  // namespace gantry::cache
