// gantry run: resolve the commit, load and check its pipeline, resolve the
// secrets up to the first manual gate, record the run, build the images,
// then walk the environments (run_session.cpp).
#include "runner/run_pipeline.h"

#include "cache/image_store.h"
#include "common/file_util.h"
#include "pipeline/git_repo.h"
#include "runner/run_attest.h"
#include "runner/run_lifecycle.h"
#include "runner/run_session.h"

namespace gantry::runner {

cache::RunRecord new_run_record(const RunOptions& options, const pipeline::GitRepo& repo,
                                const pipeline::Commit& commit, const pipeline::Pipeline& pipeline,
                                const std::string& project, std::int64_t started_ms) {
  cache::RunRecord run;
  run.started_ms = started_ms;
  run.id = options.run_id.empty() ? cache::new_run_id(run.started_ms) : options.run_id;
  run.repo = repo.location();  // absolute: promote/retry/rollback work from any directory
  run.repo_url = repo.remote_url();
  run.project = project;
  run.rev = options.rev;
  run.commit = commit.id;
  run.pipeline_file = options.file;
  run.pipeline_digest = pipeline.digest;
  run.retry_of = options.retry_of;
  return run;
}

int run_exit_code(const cache::RunRecord& run) {
  return run.status == cache::RunStatus::failed || run.status == cache::RunStatus::interrupted ? 1 : 0;
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
  ctx.project = project;
  configure_run_context(ctx, options.runner_config, options.jobs, options.no_cache, options.init_binary,
                        options.launcher, stop);
  ctx.signing_key = std::move(signing_key);
  ctx.rev = options.branch.empty() ? options.rev : options.branch;
  ctx.next_phase("open");
  ctx.phase_started_ms -= clock.since(open_started).count();
  // Every secret this invocation may need, before anything is recorded.
  TRY(resolve_secrets(ctx, 0, next_manual_gate(pipeline, 0, false)));

  cache::Metadata& meta = store.metadata();
  cache::RunRecord run = new_run_record(options, repo, commit, pipeline, project, clock.now_ms());
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
    run.status = cache::RunStatus::failed;
    run.error = ctx.masker.mask(e.message());
    reporter.note("run failed: " + run.error);
    TRY(settle_pending_stages(ctx, run));
    TRY(meta.set_run_status(run.id, run.status, "", run.error, true));
    return meta.find_run(run.id);  // as stored: with the build steps recorded so far
  };

  // Build every image of the file; then pin each stage image to a digest.
  ctx.next_phase("build");
  auto built = build_run_images(ctx);
  if (!built) return fail_run(built.error());
  auto run_images = pin_run_images(ctx, *built);
  if (!run_images) return fail_run(run_images.error());
  TRY(meta.set_run_images(run.id, *run_images));
  run.images = *run_images;

  if (auto st = advance(ctx, run, 0, false, promoted_images(pipeline)); !st) return fail_run(st.error());
  ctx.next_phase("");
  auto record = TRY(meta.find_run(run.id));
  record.phase_ms = std::move(ctx.phase_ms);
  return record;
}

}  // namespace gantry::runner
