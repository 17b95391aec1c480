// gantry run: resolve the commit, load and check its pipeline, resolve the
// secrets up to the first manual gate, record the run, build the images,
// then walk the environments (run_session.cpp).
#include "runner/run_pipeline.h"

#include <chrono>
#include <mutex>
#include <thread>

#include "cache/image_store.h"
#include "common/file_util.h"
#include "pipeline/git_repo.h"
#include "runner/build.h"
#include "runner/deferred_cache.h"
#include "runner/registry_refs.h"
#include "runner/run_attest.h"
#include "runner/run_lifecycle.h"
#include "runner/run_session.h"

namespace gantry::runner {

namespace {

unsigned default_jobs(unsigned jobs) {
  if (jobs > 0) return jobs;
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? n : 2;
}

}  // namespace

int run_exit_code(const cache::RunRecord& run) {
  return run.status == "failed" || run.status == "interrupted" ? 1 : 0;
}

Result<cache::RunRecord> run_pipeline(cache::Store& store, const RunOptions& options, Reporter& reporter,
                                      std::stop_token stop) {
  const Clock& clock = store.clock();  // ids, times and durations (common/clock.h)
  auto open_started = clock.steady_now();
  TRY(recover_dead_runs(store));
  auto repo = TRY(pipeline::GitRepo::open(options.repo, git_mirror_root(store)));
  auto commit = TRY(repo.resolve(options.rev));
  auto access = project_access(options.runner_config, repo.location(), repo.remote_url());
  auto pipeline = TRY(load_checked_pipeline(store, repo, commit, options.file, access, &reporter));
  auto signing_key = TRY(load_signing_key(options.signing_key, options.runner_config));
  const std::string project = TRY(run_project(store, pipeline, repo, access, reporter));

  RunContext ctx{.store = store, .repo = repo, .commit = commit, .pipeline = pipeline, .reporter = reporter};
  ctx.access = std::move(access);
  ctx.max_secret_bytes = options.runner_config.max_secret_bytes;
  ctx.project = project;
  ctx.no_cache = options.no_cache;
  ctx.jobs = default_jobs(options.jobs);
  ctx.init_binary = options.init_binary;
  ctx.launcher = options.launcher;
  ctx.default_limits = options.runner_config.limits;
  ctx.stop = stop;
  ctx.signing_key = std::move(signing_key);
  ctx.rev = options.branch.empty() ? options.rev : options.branch;
  ctx.runner_config = options.runner_config;
  ctx.next_phase("open");
  ctx.phase_started_ms -= clock.since(open_started).count();
  // Every secret this invocation may need, before anything is recorded.
  TRY(resolve_secrets(ctx, 0, next_manual_gate(pipeline, 0, false)));

  cache::Metadata& meta = store.metadata();
  cache::RunRecord run;
  run.started_ms = clock.now_ms();
  run.id = options.run_id.empty() ? cache::new_run_id(run.started_ms) : options.run_id;
  run.repo = repo.location();  // absolute: promote/retry/rollback work from any directory
  run.repo_url = repo.remote_url();
  run.project = project;
  run.rev = options.rev;
  run.commit = commit.id;
  run.pipeline_file = options.file;
  run.pipeline_digest = pipeline.digest;
  run.retry_of = options.retry_of;
  ctx.run_id = run.id;
  ctx.run_dir = store.paths().run_dir(run.id);
  // Held until this process ends: before the row exists, so a run recorded
  // "running" whose lock is free is always a dead one.
  auto run_lock = TRY(cache::RunLock::acquire(store, run.id));
  TRY(meta.create_run(run));
  TRY(record_pending_stages(ctx));
  ctx.workspaces = std::make_unique<WorkspaceCache>(repo, commit, pipeline.base_dir, store.tmp_dir());
  reporter.note("run " + run.id + ": " + run.repo + " at " + commit.short_id + " (" + commit.summary + ")");

  auto fail_run = [&](const Error& e) -> Result<cache::RunRecord> {
    run.status = "failed";
    run.error = ctx.masker.mask(e.message());
    reporter.note("run failed: " + run.error);
    TRY(settle_pending_stages(ctx, run));
    TRY(meta.set_run_status(run.id, run.status, "", run.error, true));
    return meta.find_run(run.id);  // as stored: with the build steps recorded so far
  };

  // Build every image of the file; then pin each stage image to a digest.
  std::map<std::string, Digest> built;
  const std::int64_t build_started_ms = clock.now_ms();
  ctx.next_phase("build");
  if (!pipeline.images.empty()) {
    reporter.phase("build");
    BuildRequest request{.store = store,
                         .repo = repo,
                         .commit = commit,
                         .pipeline = pipeline,
                         .no_cache = options.no_cache,
                         .reporter = reporter,
                         .jobs = static_cast<int>(ctx.jobs),
                         .init_binary = options.init_binary,
                         .limits = options.runner_config.limits,
                         .launcher = options.launcher};
    request.project = project;
    request.cache_project = ctx.access.project;
    // Every step is recorded with the run (and a run step's output kept in
    // the run's directory) as it ends, so a failed build can be read later.
    request.log_run_id = ctx.run_id;
    request.deferred_cache = deferred_cache_lookup(store);
    std::mutex record_mutex;
    request.on_step = [&](const cache::BuildStepRecord& step) {
      std::lock_guard lock(record_mutex);
      if (auto st = meta.record_build_step(run.id, step); !st) reporter.note("warning: " + st.error().message());
    };
    auto result = build_images(request);
    if (!result) return fail_run(result.error());
    for (const auto& image : result->images) built.emplace(image.name, image.digest);
    if (auto st = attest_built_images(ctx, built, build_started_ms, clock.now_ms()); !st) return fail_run(st.error());
  }
  std::vector<cache::RunImage> run_images;
  for (const auto& [name, digest] : built) {
    auto image = load_stage_image(store, name, digest, true);
    if (!image) return fail_run(image.error());
    ctx.images.emplace(name, std::move(*image));
    run_images.push_back({name, digest.str(), true});
  }
  // Registry stage images were pulled by load_checked_pipeline; store ones see
  // this project's build tags and the store-wide tags.
  RegistryRefs stage_refs(store, &reporter, cache::TagScope::of(project));
  // Stage images and service images (`services:`) not built by this run.
  std::vector<std::pair<std::string, std::string>> refs;  // image, who uses it
  for (const auto& stage : pipeline.stages) {
    refs.emplace_back(stage.image, "stage " + stage.name);
    for (const auto& svc : stage.services) refs.emplace_back(svc.image, "service " + svc.name + " of stage " + stage.name);
  }
  for (const auto& [ref, user] : refs) {
    if (ctx.images.count(ref)) continue;
    auto digest = stage_refs.ensure(ref);
    if (!digest) return fail_run(digest.error().context(user));
    auto image = load_stage_image(store, ref, *digest, false);
    if (!image) return fail_run(image.error());
    ctx.images.emplace(ref, std::move(*image));
    run_images.push_back({ref, digest->str(), false});
  }
  TRY(meta.set_run_images(run.id, run_images));
  run.images = run_images;

  if (auto st = advance(ctx, run, 0, false, promoted_images(pipeline)); !st) return fail_run(st.error());
  ctx.next_phase("");
  auto record = TRY(meta.find_run(run.id));
  record.phase_ms = std::move(ctx.phase_ms);
  return record;
}

}  // namespace gantry::runner
