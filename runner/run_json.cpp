// The run record as JSON (documented in docs/run.md).
#include <algorithm>

#include "cache/metadata.h"
#include "runner/build.h"
#include "runner/run_pipeline.h"

namespace gantry::runner {

nlohmann::json run_record_json(const cache::RunRecord& run, const std::vector<cache::PromotionEvent>& promotions) {
  nlohmann::json images = nlohmann::json::array();
  for (const auto& i : run.images) {
    // "built": a step of this image ran in this run (not every step cached);
    // "from_pipeline": the pipeline file builds it (false: a store image).
    nlohmann::json steps = nlohmann::json::array();
    bool ran = false;
    for (const auto& step : run.build_steps) {
      if (step.image != i.image) continue;
      steps.push_back(build_step_json(step));
      ran = ran || !step.cached;
    }
    images.push_back({{"name", i.image},
                      {"digest", i.digest},
                      {"built", ran},
                      {"from_pipeline", i.built},
                      {"steps", std::move(steps)}});
  }
  // Every build step of the run (also of an image whose build failed), and
  // the step that failed, if one did.
  nlohmann::json build_steps = nlohmann::json::array();
  nlohmann::json failed_step;
  for (const auto& step : run.build_steps) {
    auto j = build_step_json(step);
    j["image"] = step.image;
    if (step.status == cache::StepStatus::failed) failed_step = j;
    build_steps.push_back(std::move(j));
  }
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& s : run.stages) {
    stages.push_back({{"name", s.stage},
                      {"environment", s.environment},
                      {"status", s.status},
                      {"cached", s.cached},
                      {"cached_from", s.cached_from},
                      {"exit_code", s.exit_code >= 0 ? nlohmann::json(s.exit_code) : nlohmann::json()},
                      {"seconds", static_cast<double>(s.duration_ms) / 1000.0},  // this run's own time
                      {"original_seconds", s.cached ? nlohmann::json(static_cast<double>(s.original_ms) / 1000.0)
                                                    : nlohmann::json()},
                      {"started_ms", s.started_ms},
                      {"attempts", s.attempts},
                      {"allow_failure", s.allow_failure},
                      {"image", s.image},
                      {"digest", s.digest},
                      {"detail", s.detail},
                      {"log", s.log_path}});
  }
  // How each manual gate was passed: "promoted" or "already-there"; or
  // "refused" (any environment) when its `require:` refused the digest.
  nlohmann::json gates = nlohmann::json::array();
  for (const auto& g : run.gates)
    gates.push_back({{"environment", g.environment},
                     {"how", g.how},
                     {"detail", g.detail},
                     {"time", cache::format_time_utc(g.time_ms)}});
  nlohmann::json promos = nlohmann::json::array();
  for (const auto& p : promotions) {
    if (p.kind != cache::PromotionKind::promote) continue;
    promos.push_back({{"image", p.image},
                      {"environment", p.environment},
                      {"digest", p.digest},
                      {"previous_digest", p.replaced_digest},
                      {"time", cache::format_time_utc(p.time_ms)}});
  }
  nlohmann::json doc = {{"id", run.id},
          {"status", run.status},
          {"repo", run.repo},
          {"repo_url", run.repo_url},
          {"project", run.project},
          {"rev", run.rev},
          {"commit", run.commit},
          {"pipeline_file", run.pipeline_file},
          {"pipeline_digest", run.pipeline_digest},
          {"started", cache::format_time_utc(run.started_ms)},
          {"finished", run.finished_ms ? nlohmann::json(cache::format_time_utc(run.finished_ms)) : nlohmann::json()},
          {"waiting_environment", run.waiting_environment},
          {"error", run.error},
          {"retry_of", run.retry_of.empty() ? nlohmann::json() : nlohmann::json(run.retry_of)},
          {"images", images},
          {"build_steps", build_steps},
          {"failed_step", failed_step},
          {"gates", gates},
          {"stages", stages},
          {"promotions", promos}};
  if (!run.phase_ms.empty()) {
    nlohmann::json phases = nlohmann::json::array();
    for (const auto& [name, ms] : run.phase_ms) phases.push_back({{"phase", name}, {"ms", ms}});
    doc["phases"] = phases;  // this invocation only
  }
  return doc;
}

Result<nlohmann::json> load_run_json(cache::Store& store, const cache::RunRecord& run) {
  cache::Metadata& meta = store.metadata();
  auto events = TRY(meta.promotion_history({.run_id = run.id, .limit = 1000}));
  std::reverse(events.begin(), events.end());
  return run_record_json(run, events);
}

}  // namespace gantry::runner
