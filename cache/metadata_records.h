// The records of meta.db's metadata (metadata.h): runs with their images,
// build steps, stage results and gates; stage-cache entries; environment
// pointers and promotion events. Plain values, the same for every backend
// (SQLite today, PostgreSQL for a fleet). The step cache's records are in
// step_cache.h.
//
// Nothing here ever holds a secret value: callers store masked text only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/states.h"
#include "common/error.h"

namespace gantry::cache {

// Statuses, gate outcomes and promotion kinds: states.h.
struct RunImage {
  std::string image;   // name in the pipeline file (or the store reference)
  std::string digest;  // manifest digest, sha256:<hex>
  bool built = true;   // built from the pipeline file (false: a store image)
};

struct StageResult {
  std::string run_id;
  std::string stage;
  std::string environment;
  std::string image;
  std::string digest;
  StageStatus status = StageStatus::pending;
  bool cached = false;
  std::string cached_from;   // run that produced the cached result
  int exit_code = -1;        // -1: never ran / killed before exit
  std::int64_t duration_ms = 0;  // the time this run spent on it (cached: the look-up)
  std::int64_t original_ms = 0;  // cached: the time it took in the run it came from
  int attempts = 0;
  bool allow_failure = false;
  std::string detail;        // "timed out", "oom", "needs build (failed)", ...
  std::string cache_key;     // sha256:<hex> ("" when caching is off)
  std::string log_path;
  std::string artifacts_dir; // "" when the stage declares none
  std::int64_t started_ms = 0;
};

// One build step of a run (`gantry run` builds before its stages).
struct BuildStepRecord {
  std::string image;
  int index = 0;            // 1-based
  std::string kind;         // run | copy | env | workdir | user
  std::string step;         // "run: make", "copy . /src"
  std::string key;          // sha256:<hex>
  StepStatus status = StepStatus::passed;
  bool cached = false;
  std::int64_t duration_ms = 0;
  std::string log_path;     // "" when nothing ran
  std::string detail;
};

// How a run passed (or was refused) a manual gate.
struct GateRecord {
  std::string environment;
  GateOutcome how = GateOutcome::promoted;
  std::string detail;
  std::int64_t time_ms = 0;
};

struct RunRecord {
  std::string id;
  std::string repo;      // absolute path of a local repository, or the URL
  std::string repo_url;  // the remote's URL ("" when none)
  std::string project;   // the pipeline's `project:`, else derived from repo_url / repo
  std::string rev;
  std::string commit;
  std::string pipeline_file;
  std::string pipeline_digest;
  RunStatus status = RunStatus::running;
  std::string waiting_environment;  // the manual gate a waiting run stopped at
  std::string error;                // why the run failed before/after its stages
  std::string retry_of;             // the run this one retries (gantry retry), or ""
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
  std::vector<RunImage> images;
  std::vector<StageResult> stages;  // in the order they were recorded
  std::vector<BuildStepRecord> build_steps;  // per image, in step order
  std::vector<GateRecord> gates;  // manual gates passed, oldest first
  // Wall time of each phase of this invocation ("open", "build", "test",
  // "promote test", ...), in order. Not stored: filled by the runner only.
  std::vector<std::pair<std::string, std::int64_t>> phase_ms;
};

// A reusable stage result: the key's record is kept beside it for people.
struct CachedStage {
  std::string key;
  std::string record;  // JSON
  std::string run_id;
  std::string stage;
  int exit_code = 0;
  std::int64_t duration_ms = 0;
  std::string log_path;
  std::string artifacts_dir;
  std::int64_t created_ms = 0;
};

struct EnvironmentPointer {
  std::string project;
  std::string image;
  std::string environment;
  std::string digest;
  std::string commit;
  std::string run_id;
  std::int64_t time_ms = 0;
  std::string previous_digest;  // what `rollback` restores ("" = nothing)
  std::int64_t event_id = 0;
};

struct PromotionEvent {
  std::int64_t id = 0;
  PromotionKind kind = PromotionKind::promote;  // refused: moved no pointer
  std::string project;
  std::string image;
  std::string environment;
  std::string digest;
  std::string replaced_digest;
  std::string pointer_previous;
  std::string commit;
  std::string run_id;
  std::int64_t time_ms = 0;
  std::string reason;  // refused: the rule that failed and why ("" otherwise)
};

// Moving an environment pointer to `digest` (a promotion).
struct PointerMove {
  std::string project;
  std::string image;
  std::string environment;
  std::string digest;
  std::string commit;
  std::string run_id;
  // Compare-and-swap: the digest the pointer must hold for the move to happen
  // ("" = the environment has no pointer yet); nullopt = whatever it holds
  // (the move is still serialized with every other one).
  std::optional<std::string> expected_digest;
  // The rule: `digest` must have been promoted into each of these
  // environments before (a digest never skips an environment).
  std::vector<std::string> must_have_passed;
};

// The events every backend records, built the same way: a promotion of
// move.digest over the pointer as it is (`current`); a refusal of it (the
// pointer stays; replaced_digest names what the environment keeps); a
// rollback of `current` to its previous digest, restoring the commit, run and
// rollback target of `origin` (the event that first brought that digest).
PromotionEvent promotion_event(const PointerMove& move, const std::optional<EnvironmentPointer>& current,
                               std::int64_t time_ms);
PromotionEvent refusal_event(const PointerMove& move, const std::optional<EnvironmentPointer>& current,
                             const std::string& reason, std::int64_t time_ms);
PromotionEvent rollback_event(const EnvironmentPointer& current, const PromotionEvent& origin, std::int64_t time_ms);

// Unix milliseconds now (the time recorded in runs, stages and promotions).
std::int64_t now_ms();

// "2026-11-25T21:04:05Z" for unix milliseconds.
std::string format_time_utc(std::int64_t ms);

// A promotion or rollback event as `gantry history --json` and the server's
// "promotion" events show it: {"id","kind","project","image","environment",
// "digest","previous_digest","commit","run","time"}, and "reason" for a
// "refused" event.
nlohmann::json promotion_event_json(const PromotionEvent& e);

// The rules every metadata backend applies the same way (metadata.h):
// find_run()'s choice among the runs whose id contains `part` (newest first):
// the exact id, else those that start or end with it, else the rest; the
// first tier with matches decides; not_found, or invalid_input naming the
// candidates when several match.
Result<RunRecord> pick_run(const std::string& part, std::vector<RunRecord> containing);
// A pointer move's compare-and-swap: conflict ("the pointer moved meanwhile")
// unless the pointer holds `expected` ("" = no pointer); nullopt: any.
Status check_pointer_expected(const std::optional<EnvironmentPointer>& current,
                              const std::optional<std::string>& expected, const std::string& what);

}  // namespace gantry::cache
