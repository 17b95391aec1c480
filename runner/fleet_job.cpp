#include "runner/fleet_job.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>

#include "cache/metadata.h"
#include "common/file_util.h"
#include "common/phase_trace.h"
#include "pgstore/pg_logs.h"
#include "pgstore/pg_metadata.h"
#include "registry/registry_options.h"
#include "registry/step_cache_share.h"
#include "registry/transfer.h"
#include "runner/log_shipper.h"
#include "runner/project_policy.h"
#include "runner/run_attest.h"
#include "runner/run_context.h"
#include "runner/run_lifecycle.h"
#include "runner/run_session.h"
#include "runner/stage_runner.h"

namespace gantry::runner {

namespace {

}  // namespace

// A run's repository opened, its commit resolved and its pipeline loaded:
// the same for every job of the run, so a worker keeps the last one.
struct FleetRunSource {
  std::string run_id;
  pipeline::GitRepo repo;
  pipeline::Commit commit;
  pipeline::Pipeline pipeline;
  ProjectAccess access;
};

namespace {

// What a job's RunContext refers to, owned for the job's length.
struct JobScope {
  cache::RunRecord run;
  std::shared_ptr<FleetRunSource> source;
  const pipeline::Pipeline& pipeline() const { return source->pipeline; }
  std::unique_ptr<RunContext> ctx;
};

// The run as recorded (read again for every job: results and images
// change), its commit and its pipeline (from `cache` when it is this run's),
// in this agent's store: the repository at its recorded location, else its
// remote URL (mirrored).
Result<std::unique_ptr<JobScope>> open_scope(cache::Store& store, const std::string& run_id,
                                             const FleetAgentSettings& settings, Reporter& reporter,
                                             std::stop_token stop, FleetRunCache& cache) {
  auto run = TRY(store.metadata().find_run(run_id));
  if (!cache || cache->run_id != run.id) {
    cache.reset();
    auto repo = TRY_CTX(open_run_repo(store, run), "run " + run.id);
    auto commit = TRY_CTX(repo.resolve(run.commit), "run " + run.id);
    // The project as the runner derives it for the recorded repository (the
    // agent's own configuration decides what it may reach).
    ProjectAccess access = project_access(settings.runner_config, run.repo, run.repo_url);
    auto pipe = TRY(load_checked_pipeline(store, repo, commit, run.pipeline_file, access, &reporter, false));
    cache = std::shared_ptr<FleetRunSource>(
        new FleetRunSource{run.id, std::move(repo), std::move(commit), std::move(pipe), std::move(access)});
  }
  auto scope = std::unique_ptr<JobScope>(new JobScope{std::move(run), cache, nullptr});
  FleetRunSource& source = *scope->source;
  scope->ctx = std::unique_ptr<RunContext>(new RunContext{.store = store,
                                                          .repo = source.repo,
                                                          .commit = source.commit,
                                                          .pipeline = source.pipeline,
                                                          .reporter = reporter});
  RunContext& ctx = *scope->ctx;
  ctx.access = source.access;
  ctx.run_id = scope->run.id;
  ctx.project = scope->run.project;
  ctx.run_dir = store.paths().run_dir(scope->run.id);
  configure_run_context(ctx, settings.runner_config, settings.stage_jobs, false, settings.init_binary,
                        settings.launcher, stop);
  ctx.signing_key = settings.key;
  ctx.rev = scope->run.rev;
  TRY(make_dirs(ctx.run_dir));
  ctx.workspaces = std::make_unique<WorkspaceCache>(source.repo, source.commit, source.pipeline.base_dir,
                                                    store.tmp_dir());
  return scope;
}

// ctx.images: the run's images by digest, pulled from the agents' registry
// when this store lacks them (a digest already complete here is not fetched).
Status load_run_images(JobScope& scope, const std::string& registry) {
  RunContext& ctx = *scope.ctx;
  if (scope.run.images.empty())
    return fail(ErrorKind::conflict, "run " + scope.run.id + " has no images recorded: its build job did not pass");
  auto options = registry::registry_options_from_env();
  options.progress = false;
  for (const auto& ri : scope.run.images) {
    if (ctx.images.count(ri.image)) continue;
    auto digest = TRY(Digest::parse(ri.digest));
    auto here = load_stage_image(ctx.store, ri.image, digest, ri.built);
    if (!here) {
      const std::string ref = fleet_image_repository(registry, ri.image) + "@" + ri.digest;
      TRY_CTX(registry::pull_image(ctx.store, ref, options), "image " + ri.image + " of run " + scope.run.id);
      here = load_stage_image(ctx.store, ri.image, digest, ri.built);
    }
    if (!here) return fail(std::move(here).error());
    ctx.images.emplace(ri.image, std::move(*here));
  }
  return {};
}

// The final results of the run so far (what a stage keys on and mounts).
void load_results(JobScope& scope) {
  std::lock_guard lock(scope.ctx->mutex);
  for (const auto& s : scope.run.stages)
    if (s.status != cache::StageStatus::pending && s.status != cache::StageStatus::running)
      scope.ctx->results[s.stage] = s;
}

Result<FleetJobResult> build_job(JobScope& scope, const FleetAgentSettings& settings) {
  RunContext& ctx = *scope.ctx;
  // A step the shared record has cached (built by another agent) whose layer
  // this store lacks: the layer is in the registry, pushed with that image.
  // (The image of the file that made it is not recorded by name: each of the
  // file's images' repositories is asked, a HEAD-sized miss each.)
  auto shared_layer = [&ctx, &settings](const Digest& key) -> Result<std::optional<cache::StepCacheEntry>> {
    auto entry = TRY(ctx.store.metadata().find_step(key));
    if (!entry || !entry->layer) return std::optional<cache::StepCacheEntry>();
    std::optional<Error> last;
    for (const auto& image : ctx.pipeline.images) {
      auto fetched = registry::fetch_step_layer(ctx.store, *entry, fleet_image_repository(settings.registry, image.name),
                                                registry::registry_options_from_env());
      if (fetched) return entry;
      last = std::move(fetched).error();
    }
    if (last) return fail(std::move(*last));
    return std::optional<cache::StepCacheEntry>();
  };
  auto built = TRY(build_run_images(ctx, shared_layer));
  auto images = TRY(pin_run_images(ctx, built));
  auto options = registry::registry_options_from_env();
  options.progress = false;
  // By digest: the same manifest bytes, so every agent runs what was built here.
  for (const auto& ri : images) {
    const std::string dest = fleet_image_repository(settings.registry, ri.image) + "@" + ri.digest;
    // A built image's attestations (its provenance) go with it; a store image
    // the stages run on (a base) goes without the other runs' ones.
    options.referrers = ri.built;
    auto pushed = TRY_CTX(registry::push_image(ctx.store, ri.digest, dest, options), "pushing " + ri.image);
    ctx.reporter.note("pushed " + ri.image + " " + ri.digest + " to " + pushed.reference);
  }
  TRY(ctx.store.metadata().set_run_images(scope.run.id, images));
  return FleetJobResult{true, std::to_string(images.size()) + " image(s) pinned and pushed"};
}

// A stage that never reached its container: failed, with the reason, in the
// record (so the run does not list it pending).
void record_stage_failure(JobScope& scope, const pipeline::StageDef& stage, const std::string& why) {
  cache::StageResult r;
  r.run_id = scope.run.id;
  r.stage = stage.name;
  r.environment = stage.environment;
  r.image = stage.image;
  r.status = cache::StageStatus::failed;
  r.allow_failure = stage.allow_failure;
  r.detail = why;
  r.started_ms = scope.ctx->store.clock().now_ms();
  if (auto st = scope.ctx->store.metadata().record_stage(r); !st)
    scope.ctx->reporter.note("warning: " + st.error().message());
}

Result<FleetJobResult> stage_job(JobScope& scope, const FleetAgentSettings& settings, const std::string& name,
                                 int attempt) {
  RunContext& ctx = *scope.ctx;
  const pipeline::StageDef* stage = scope.pipeline().find_stage(name);
  if (stage == nullptr)
    return fail(ErrorKind::not_found, "stage " + name + " is not in " + scope.run.pipeline_file + " at " +
                                          scope.run.commit.substr(0, 12));
  auto prepared = [&]() -> Status {
    TRY(load_run_images(scope, settings.registry));
    load_results(scope);
    // The artifacts of its needs stay on the agent that ran them.
    for (const auto& need : stage_ancestors(scope.pipeline(), *stage)) {
      auto it = ctx.results.find(need);
      if (it != ctx.results.end() && !it->second.artifacts_dir.empty() &&
          ::access(it->second.artifacts_dir.c_str(), F_OK) != 0)
        return fail(ErrorKind::not_found, "the artifacts of stage " + need +
                                              " are kept by the agent that ran it, not this one (give both "
                                              "stages the same runs_on label)");
    }
    const auto env = static_cast<std::size_t>(scope.pipeline().environment_index(stage->environment));
    return resolve_secrets(ctx, env, env + 1);
  }();
  if (!prepared) {
    record_stage_failure(scope, *stage, ctx.masker.mask(prepared.error().message()));
    return fail(std::move(prepared).error());
  }
  trace::phase("job_stage_prepared");
  cache::StageResult r;
  {
    // The log goes into the shared record as the stage writes it.
    std::optional<pgstore::PgLogs> logs;
    std::optional<LogShipper> shipper;
    if (auto* pg = dynamic_cast<pgstore::PgMetadata*>(&ctx.store.metadata())) {
      logs.emplace(pg->connection());
      shipper.emplace(*logs, ctx.store.paths().stage_log(scope.run.id, pipeline::stage_file_name(stage->name)),
                      scope.run.id, stage->name, attempt);
    }
    r = run_stage(ctx, *stage);
  }
  const bool passed = outcome_of(r) != TaskOutcome::failed;
  return FleetJobResult{passed, std::string(to_string(r.status)) + (r.detail.empty() ? "" : ": " + r.detail)};
}

Result<FleetJobResult> promote_job(JobScope& scope, const FleetAgentSettings& settings, const std::string& name) {
  RunContext& ctx = *scope.ctx;
  const pipeline::EnvironmentDef* env = scope.pipeline().find_environment(name);
  if (env == nullptr) return fail(ErrorKind::not_found, "environment " + name + " is not in the run's pipeline");
  TRY(load_run_images(scope, settings.registry));
  load_results(scope);
  TRY(attest_passed_stages(ctx, env->name));
  TRY(promote_images(ctx, *env, promoted_images(scope.pipeline())));
  return FleetJobResult{true, "promoted to " + env->name};
}

}  // namespace

std::string fleet_image_repository(const std::string& registry, const std::string& image) {
  std::string component;
  for (char c : image) {
    const char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (std::isalnum(static_cast<unsigned char>(lower))) component.push_back(lower);
    else if (!component.empty() && component.back() != '-') component.push_back('-');
  }
  while (!component.empty() && component.back() == '-') component.pop_back();
  return registry + "/" + (component.empty() ? "image" : component);
}

FleetJobResult run_fleet_job(cache::Store& store, const pgstore::Claim& claim, const FleetAgentSettings& settings,
                             Reporter& reporter, std::stop_token stop, FleetRunCache& cache) {
  auto outcome = [&]() -> Result<FleetJobResult> {
    auto job = TRY(FleetJob::parse(claim.name, claim.payload));
    auto scope = TRY(open_scope(store, claim.run_id, settings, reporter, stop, cache));
    trace::phase("job_scope_open");
    switch (job.kind) {
      case FleetJobKind::build: return build_job(*scope, settings);
      case FleetJobKind::stage: return stage_job(*scope, settings, job.target, claim.attempt);
      case FleetJobKind::promote: return promote_job(*scope, settings, job.target);
    }
    return fail(ErrorKind::invalid_input, "job " + claim.name + ": unknown kind");
  }();
  if (!outcome) return FleetJobResult{false, outcome.error().message()};
  return *outcome;
}

Status settle_fleet_run(cache::Store& store, pgstore::PgQueue& queue, const std::string& run_id,
                        const FleetAgentSettings& settings, Reporter& reporter, FleetRunCache& cache) {
  auto jobs = TRY(queue.jobs(run_id));
  for (const auto& j : jobs)
    if (j.state == "waiting" || j.state == "queued" || j.state == "claimed") return {};
  cache::Metadata& meta = store.metadata();
  auto run = TRY(meta.find_run(run_id));
  if (run.status != cache::RunStatus::running) return {};  // settled already (by another agent)
  auto scope = TRY(open_scope(store, run_id, settings, reporter, {}, cache));
  std::map<std::string, const cache::StageResult*> recorded;
  for (const auto& s : scope->run.stages) recorded[s.stage] = &s;
  std::string error;
  for (const auto& j : jobs) {
    if (j.state != "failed") continue;
    if (error.empty()) error = j.name + ": " + j.result;
    auto job = FleetJob::parse(j.name, j.payload);
    if (!job || job->kind != FleetJobKind::stage) continue;
    // A stage whose agent was lost for good is still "running" in the record.
    auto it = recorded.find(job->target);
    if (it == recorded.end()) continue;
    const cache::StageStatus was = it->second->status;
    if (was != cache::StageStatus::running && was != cache::StageStatus::pending) continue;
    cache::StageResult r = *it->second;
    r.status = cache::StageStatus::failed;
    r.detail = j.result;
    TRY(meta.record_stage(r));
  }
  cache::RunRecord& out = scope->run;
  // The last environment with jobs so far (a promote opens the next gate).
  int last = -1;
  for (const auto& j : jobs)
    if (auto job = FleetJob::parse(j.name, j.payload); job && job->kind == FleetJobKind::promote)
      last = std::max(last, scope->pipeline().environment_index(job->target));
  const auto gate = fleet_gate(scope->pipeline(), last);
  out.status = !error.empty() ? cache::RunStatus::failed : gate ? cache::RunStatus::waiting : cache::RunStatus::passed;
  out.waiting_environment = out.status == cache::RunStatus::waiting ? *gate : "";
  out.error = error;
  TRY(settle_pending_stages(*scope->ctx, out));
  return meta.set_run_status(run_id, out.status, out.waiting_environment, out.error,
                             out.status != cache::RunStatus::waiting);
}

}  // namespace gantry::runner
