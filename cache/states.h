// The states gantry records, as types: a run's status, a stage's, a build
// step's, how a run passed a manual gate, and the kind of an environment's
// history event. Their strings are a stored and published format (meta.db,
// PostgreSQL, `--json`, the HTTP API, the dashboard, users' scripts): this
// file and states.cpp are the one place they are spelled, and they never
// change. parse_*() refuses a string it does not know (ErrorKind::corrupt,
// naming the string) rather than guessing. Like pipeline::Gate. (The
// backends' SQL also names a few in WHERE clauses: sqlite_runs.cpp,
// pg_runs.cpp, *_environments.cpp.) The run queue's and the fleet's job
// states are other machines (run_queue.h, pgstore/pg_queue.h).
#pragma once

#include <iosfwd>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "common/error.h"

namespace gantry::cache {

// A run: "running", "passed", "failed", "waiting" (stopped at a manual gate),
// "interrupted" (its process died before the run finished, or a newer run of
// its branch superseded it).
enum class RunStatus { running, passed, failed, waiting, interrupted };

// A stage of a run: "pending" (not started yet), "running", "passed",
// "failed", "skipped" (the detail says why: "needs unit (failed)",
// "environment staging not reached", "waiting at manual gate production"),
// "cancelled" (by a newer run of the branch: `interruptible:`),
// "interrupted" (the run's process died before the stage ended).
enum class StageStatus { pending, running, passed, failed, skipped, cancelled, interrupted };

// A build step of a run: "passed" (ran or cached) or "failed".
enum class StepStatus { passed, failed };

// How a run passed a manual gate: "promoted" (gantry promote),
// "already-there" (every promoted digest was already in the environment), or
// "refused" (the environment's `require:` refused the digest).
enum class GateOutcome { promoted, already_there, refused };

// An event of an environment's history: "promote", "rollback", or "refused"
// (a promotion a rule refused: it moved no pointer).
enum class PromotionKind { promote, rollback, refused };

std::string_view to_string(RunStatus status);
std::string_view to_string(StageStatus status);
std::string_view to_string(StepStatus status);
std::string_view to_string(GateOutcome outcome);
std::string_view to_string(PromotionKind kind);

Result<RunStatus> parse_run_status(std::string_view text);
Result<StageStatus> parse_stage_status(std::string_view text);
Result<StepStatus> parse_step_status(std::string_view text);
Result<GateOutcome> parse_gate_outcome(std::string_view text);
Result<PromotionKind> parse_promotion_kind(std::string_view text);

// In JSON (`--json`, the HTTP API, events), a state is its string, never
// nlohmann's default for an enum (its number).
void to_json(nlohmann::json& j, RunStatus status);
void to_json(nlohmann::json& j, StageStatus status);
void to_json(nlohmann::json& j, StepStatus status);
void to_json(nlohmann::json& j, GateOutcome outcome);
void to_json(nlohmann::json& j, PromotionKind kind);

// The string, for test failure messages and logs.
std::ostream& operator<<(std::ostream& out, RunStatus status);
std::ostream& operator<<(std::ostream& out, StageStatus status);
std::ostream& operator<<(std::ostream& out, StepStatus status);
std::ostream& operator<<(std::ostream& out, GateOutcome outcome);
std::ostream& operator<<(std::ostream& out, PromotionKind kind);

}  // namespace gantry::cache
