// One stage of a run: key it, reuse its cached result or run it in a fresh
// container from its image's exact digest (with retries), write its log to
// <run dir>/<stage>.log, copy its artifacts out, record the result.
#pragma once

#include <set>
#include <string>

#include "cache/metadata.h"
#include "pipeline/pipeline.h"
#include "runner/run_context.h"
#include "runner/stage_scheduler.h"

namespace gantry::runner {

// Variables every stage gets (besides the image's env, its own env and secrets):
//   GANTRY_ENVIRONMENT  the environment the stage belongs to
//   GANTRY_STAGE        the stage name
//   GANTRY_IMAGE_DIGEST the manifest digest it runs on
//   GANTRY_ARTIFACTS    /artifacts (where needed stages' artifacts are mounted)
//   GANTRY_RUN_ID, GANTRY_COMMIT  informational (not part of the cache key)
//   CI=true
inline constexpr const char* kWorkspaceMount = "/workspace";

// Runs (or reuses) the stage; stores the result in ctx.results and meta.db.
// Never throws; problems become a failed result with the reason in `detail`
// and in the log.
cache::StageResult run_stage(RunContext& ctx, const pipeline::StageDef& stage);

// Records a stage skipped because `failed_need` failed.
cache::StageResult skip_stage(RunContext& ctx, const pipeline::StageDef& stage, const std::string& failed_need);

// Every stage `stage` needs, directly or not.
std::set<std::string> stage_ancestors(const pipeline::Pipeline& p, const pipeline::StageDef& stage);

// The outcome the scheduler acts on.
TaskOutcome outcome_of(const cache::StageResult& result);

}  // namespace gantry::runner
