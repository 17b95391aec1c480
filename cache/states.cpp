#include "cache/states.h"

#include <array>
#include <ostream>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace gantry::cache {

namespace {

// Each state's spelling, once. The strings are stored (meta.db, PostgreSQL)
// and published (JSON, HTTP API): never change one.
template <typename E, std::size_t N>
using Names = std::array<std::pair<E, std::string_view>, N>;

constexpr Names<RunStatus, 5> kRunStatuses{{
    {RunStatus::running, "running"},
    {RunStatus::passed, "passed"},
    {RunStatus::failed, "failed"},
    {RunStatus::waiting, "waiting"},
    {RunStatus::interrupted, "interrupted"},
}};
constexpr Names<StageStatus, 7> kStageStatuses{{
    {StageStatus::pending, "pending"},
    {StageStatus::running, "running"},
    {StageStatus::passed, "passed"},
    {StageStatus::failed, "failed"},
    {StageStatus::skipped, "skipped"},
    {StageStatus::cancelled, "cancelled"},
    {StageStatus::interrupted, "interrupted"},
}};
constexpr Names<StepStatus, 2> kStepStatuses{{
    {StepStatus::passed, "passed"},
    {StepStatus::failed, "failed"},
}};
constexpr Names<GateOutcome, 3> kGateOutcomes{{
    {GateOutcome::promoted, "promoted"},
    {GateOutcome::already_there, "already-there"},
    {GateOutcome::refused, "refused"},
}};
constexpr Names<PromotionKind, 3> kPromotionKinds{{
    {PromotionKind::promote, "promote"},
    {PromotionKind::rollback, "rollback"},
    {PromotionKind::refused, "refused"},
}};

template <typename E, std::size_t N>
std::string_view name_of(const Names<E, N>& names, E value) {
  for (const auto& [v, name] : names)
    if (v == value) return name;
  return "?";  // not reached: every value is in its table (tests/cache/fast/states_test.cpp)
}

template <typename E, std::size_t N>
Result<E> value_of(const Names<E, N>& names, std::string_view text, const char* what) {
  for (const auto& [v, name] : names)
    if (name == text) return v;
  return fail(ErrorKind::corrupt, "unknown " + std::string(what) + " \"" + std::string(text) + "\"");
}

}  // namespace

std::string_view to_string(RunStatus status) { return name_of(kRunStatuses, status); }
std::string_view to_string(StageStatus status) { return name_of(kStageStatuses, status); }
std::string_view to_string(StepStatus status) { return name_of(kStepStatuses, status); }
std::string_view to_string(GateOutcome outcome) { return name_of(kGateOutcomes, outcome); }
std::string_view to_string(PromotionKind kind) { return name_of(kPromotionKinds, kind); }

Result<RunStatus> parse_run_status(std::string_view text) { return value_of(kRunStatuses, text, "run status"); }
Result<StageStatus> parse_stage_status(std::string_view text) {
  return value_of(kStageStatuses, text, "stage status");
}
Result<StepStatus> parse_step_status(std::string_view text) {
  return value_of(kStepStatuses, text, "build step status");
}
Result<GateOutcome> parse_gate_outcome(std::string_view text) {
  return value_of(kGateOutcomes, text, "gate outcome");
}
Result<PromotionKind> parse_promotion_kind(std::string_view text) {
  return value_of(kPromotionKinds, text, "promotion kind");
}

void to_json(nlohmann::json& j, RunStatus status) { j = std::string(to_string(status)); }
void to_json(nlohmann::json& j, StageStatus status) { j = std::string(to_string(status)); }
void to_json(nlohmann::json& j, StepStatus status) { j = std::string(to_string(status)); }
void to_json(nlohmann::json& j, GateOutcome outcome) { j = std::string(to_string(outcome)); }
void to_json(nlohmann::json& j, PromotionKind kind) { j = std::string(to_string(kind)); }

std::ostream& operator<<(std::ostream& out, RunStatus status) { return out << to_string(status); }
std::ostream& operator<<(std::ostream& out, StageStatus status) { return out << to_string(status); }
std::ostream& operator<<(std::ostream& out, StepStatus status) { return out << to_string(status); }
std::ostream& operator<<(std::ostream& out, GateOutcome outcome) { return out << to_string(outcome); }
std::ostream& operator<<(std::ostream& out, PromotionKind kind) { return out << to_string(kind); }

}  // namespace gantry::cache
