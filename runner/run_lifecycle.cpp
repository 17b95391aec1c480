#include "runner/run_lifecycle.h"

#include <spdlog/spdlog.h>

#include <map>
#include <string>

#include "executor/container.h"

namespace gantry::runner {

Status record_pending_stages(RunContext& ctx, std::size_t first_env) {
  cache::Metadata& meta = ctx.store.metadata();
  const auto& envs = ctx.pipeline.environments;
  for (std::size_t i = first_env; i < envs.size(); ++i) {
    for (const auto* stage : ctx.pipeline.stages_of(envs[i].name)) {
      cache::StageResult r;
      r.run_id = ctx.run_id;
      r.stage = stage->name;
      r.environment = stage->environment;
      r.image = stage->image;
      if (auto it = ctx.images.find(stage->image); it != ctx.images.end()) r.digest = it->second.digest.str();
      r.status = cache::StageStatus::pending;
      r.allow_failure = stage->allow_failure;
      TRY(meta.record_stage(r));
    }
  }
  return {};
}

Status settle_pending_stages(RunContext& ctx, const cache::RunRecord& run) {
  cache::Metadata& meta = ctx.store.metadata();
  auto recorded = TRY(meta.find_run(run.id));
  std::map<std::string, cache::StageStatus> status_of;
  for (const auto& r : recorded.stages) status_of[r.stage] = r.status;
  // The first need that failed (a failure not allowed) or was skipped, if any.
  auto broken_need = [&](const std::string& name) -> std::string {
    const auto* def = ctx.pipeline.find_stage(name);
    if (def == nullptr) return "";
    for (const auto& need : def->needs) {
      auto it = status_of.find(need);
      if (it == status_of.end()) continue;
      const auto* need_def = ctx.pipeline.find_stage(need);
      if (it->second == cache::StageStatus::failed && !(need_def && need_def->allow_failure)) return need + " (failed)";
      if (it->second == cache::StageStatus::skipped || it->second == cache::StageStatus::interrupted)
        return need + " (" + std::string(to_string(it->second)) + ")";
    }
    return "";
  };
  const int gate =
      run.status == cache::RunStatus::waiting ? ctx.pipeline.environment_index(run.waiting_environment) : -1;
  for (auto& r : recorded.stages) {
    if (r.status != cache::StageStatus::pending) continue;
    const bool behind_gate = gate >= 0 && ctx.pipeline.environment_index(r.environment) >= gate;
    const std::string need = broken_need(r.stage);
    r.status = cache::StageStatus::skipped;
    r.detail = behind_gate       ? "waiting at manual gate " + run.waiting_environment
               : !need.empty()   ? "needs " + need
                                 : "environment " + r.environment + " not reached";
    status_of[r.stage] = r.status;
    if (auto it = ctx.images.find(r.image); it != ctx.images.end()) r.digest = it->second.digest.str();
    TRY(meta.record_stage(r));
    {
      std::lock_guard lock(ctx.mutex);
      ctx.results[r.stage] = r;
    }
    ctx.reporter.task({r.environment, r.stage}, behind_gate ? TaskState::waiting : TaskState::skipped, {}, r.detail);
  }
  return {};
}

Status recover_dead_runs(cache::Store& store) {
  auto marked = TRY(cache::mark_dead_runs_interrupted(store));
  for (const auto& id : marked) spdlog::debug("run {} was interrupted (its gantry process died)", id);
  auto swept = executor::sweep_leftovers(store.paths().containers_dir());
  if (!swept) spdlog::warn("sweeping containers left by dead runs: {}", swept.error().message());
  else if (*swept > 0) spdlog::debug("swept {} containers left by dead gantry processes", *swept);
  return {};
}

}  // namespace gantry::runner
