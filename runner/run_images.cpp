// The images of a run: the file's images built, then every stage and service
// image pinned to a digest (run_session.h). Shared by `gantry run` and the
// fleet's build job (fleet_job.cpp).
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "runner/build.h"
#include "runner/deferred_cache.h"
#include "runner/registry_refs.h"
#include "runner/run_attest.h"
#include "runner/run_session.h"

namespace gantry::runner {

Result<std::map<std::string, Digest>> build_run_images(RunContext& ctx, StepLayerSource shared_layer) {
  std::map<std::string, Digest> built;
  if (ctx.pipeline.images.empty()) return built;
  const Clock& clock = ctx.store.clock();
  const std::int64_t started_ms = clock.now_ms();
  ctx.reporter.phase("build");
  cache::Metadata& meta = ctx.store.metadata();
  BuildRequest request{.store = ctx.store,
                       .repo = ctx.repo,
                       .commit = ctx.commit,
                       .pipeline = ctx.pipeline,
                       .no_cache = ctx.no_cache,
                       .reporter = ctx.reporter,
                       .jobs = static_cast<int>(ctx.jobs),
                       .init_binary = ctx.init_binary,
                       .limits = ctx.default_limits,
                       .launcher = ctx.launcher};
  request.project = ctx.project;
  request.cache_project = ctx.access.project;
  // Every step is recorded with the run (and a run step's output kept in the
  // run's directory) as it ends, so a failed build can be read later.
  request.log_run_id = ctx.run_id;
  request.deferred_cache = deferred_cache_lookup(ctx.store);
  if (shared_layer)
    request.deferred_cache = [shared_layer, deferred = request.deferred_cache](const Digest& key)
        -> Result<std::optional<cache::StepCacheEntry>> {
      auto hit = shared_layer(key);
      if (hit && *hit) return hit;
      if (!hit) spdlog::warn("{}", hit.error().message());
      return deferred(key);
    };
  std::mutex record_mutex;
  request.on_step = [&](const cache::BuildStepRecord& step) {
    std::lock_guard lock(record_mutex);
    if (auto st = meta.record_build_step(ctx.run_id, step); !st) ctx.reporter.note("warning: " + st.error().message());
  };
  auto result = TRY(build_images(request));
  for (const auto& image : result.images) built.emplace(image.name, image.digest);
  TRY(attest_built_images(ctx, built, started_ms, clock.now_ms()));
  return built;
}

Result<std::vector<cache::RunImage>> pin_run_images(RunContext& ctx, const std::map<std::string, Digest>& built) {
  std::vector<cache::RunImage> run_images;
  for (const auto& [name, digest] : built) {
    ctx.images.emplace(name, TRY(load_stage_image(ctx.store, name, digest, true)));
    run_images.push_back({name, digest.str(), true});
  }
  // Registry stage images were pulled by load_checked_pipeline; store ones see
  // this project's build tags and the store-wide tags.
  RegistryRefs stage_refs(ctx.store, &ctx.reporter, cache::TagScope::of(ctx.project));
  // Stage images and service images (`services:`) not built by this run.
  std::vector<std::pair<std::string, std::string>> refs;  // image, who uses it
  for (const auto& stage : ctx.pipeline.stages) {
    refs.emplace_back(stage.image, "stage " + stage.name);
    for (const auto& svc : stage.services) refs.emplace_back(svc.image, "service " + svc.name + " of stage " + stage.name);
  }
  for (const auto& [ref, user] : refs) {
    if (ctx.images.count(ref)) continue;
    auto digest = TRY_CTX(stage_refs.ensure(ref), user);
    ctx.images.emplace(ref, TRY(load_stage_image(ctx.store, ref, digest, false)));
    run_images.push_back({ref, digest.str(), false});
  }
  return run_images;
}

void configure_run_context(RunContext& ctx, const RunnerConfig& config, unsigned jobs, bool no_cache,
                           const std::string& init_binary, ContainerLauncher* launcher, std::stop_token stop) {
  ctx.max_secret_bytes = config.max_secret_bytes;
  ctx.no_cache = no_cache;
  unsigned cores = std::thread::hardware_concurrency();
  ctx.jobs = jobs > 0 ? jobs : (cores > 0 ? cores : 2);
  ctx.init_binary = init_binary;
  ctx.launcher = launcher;
  ctx.default_limits = config.limits;
  ctx.stop = stop;
  ctx.runner_config = config;
}

}  // namespace gantry::runner
