// gantry promote / gantry rollback: carrying a waiting run through a manual
// gate with the digests it built (never rebuilding), and moving an
// environment back to its previous digest.
#include <algorithm>
#include <thread>

#include "cache/image_store.h"
#include "common/file_util.h"
#include "pipeline/git_repo.h"
#include "runner/fleet_submit.h"
#include "runner/run_pipeline.h"
#include "runner/run_attest.h"
#include "runner/run_lifecycle.h"
#include "runner/run_session.h"

namespace gantry::runner {

namespace {

std::string digest_of(const cache::RunRecord& run, const std::string& image) {
  for (const auto& i : run.images)
    if (i.image == image) return i.digest;
  return "";
}

// The runs waiting at ENV's gate that have IMAGE, newest first.
Result<std::vector<cache::RunRecord>> waiting_runs(cache::Store& store, const PromoteOptions& o,
                                                   const std::string& project) {
  cache::Metadata& meta = store.metadata();
  constexpr int kLookBack = 500;
  auto list = TRY(meta.list_runs({.project = project, .image = o.image, .limit = kLookBack}));
  std::erase_if(list, [&](const cache::RunRecord& r) {
    return r.status != cache::RunStatus::waiting || r.waiting_environment != o.environment ||
           digest_of(r, o.image).empty();
  });
  return list;
}

// Which run a promotion without --run continues: the newest run waiting at
// ENV's gate for IMAGE (refused when waiting runs differ in digest: which
// one is meant is the user's call); when none waits there, the one that
// brought the image's digest into the environment before ENV (the newest
// run of the image for the first environment).
Result<cache::RunRecord> pick_run(cache::Store& store, const PromoteOptions& o, const std::string& project,
                                  const pipeline::Pipeline* p, Reporter& reporter) {
  cache::Metadata& meta = store.metadata();
  if (!o.run_id.empty()) return meta.find_run(o.run_id);
  auto waiting = TRY(waiting_runs(store, o, project));
  if (!waiting.empty()) {
    const std::string digest = digest_of(waiting.front(), o.image);
    bool differ = std::any_of(waiting.begin(), waiting.end(),
                              [&](const cache::RunRecord& r) { return digest_of(r, o.image) != digest; });
    if (differ) {
      std::string candidates;
      for (const auto& r : waiting)
        candidates += "\n  " + r.id + "  " + digest_of(r, o.image) + "  commit " + r.commit.substr(0, 12);
      return fail(ErrorKind::conflict, "refusing to guess: " + std::to_string(waiting.size()) + " runs of " +
                                           o.image + " with different digests wait at the manual gate of " +
                                           o.environment + "; name one with --run:" + candidates);
    }
    reporter.note("promoting run " + waiting.front().id + ": the newest run of " + o.image +
                  " waiting at the manual gate of " + o.environment +
                  (waiting.size() > 1 ? " (" + std::to_string(waiting.size() - 1) + " older ones wait with the same digest)"
                                      : ""));
    return meta.find_run(waiting.front().id);
  }
  if (p) {
    int index = p->environment_index(o.environment);
    if (index > 0) {
      const std::string& before = p->environments[static_cast<std::size_t>(index - 1)].name;
      auto pointer = TRY(meta.environment_pointer(project, o.image, before));
      if (!pointer)
        return fail(ErrorKind::conflict, "refusing to promote " + o.image + " to " + o.environment + ": it has no digest in " +
                                             before + " yet (see gantry env ls)");
      reporter.note("promoting run " + pointer->run_id + ": the run that brought " + o.image + " " +
                    pointer->digest + " into " + before + " (no run waits at the manual gate of " +
                    o.environment + ")");
      return meta.find_run(pointer->run_id);
    }
  }
  auto list = TRY(meta.list_runs({.project = project, .image = o.image, .limit = 1}));
  if (list.empty()) return fail(ErrorKind::not_found, "no run of image " + o.image + " (see gantry history)");
  reporter.note("promoting run " + list.front().id + ": the newest run of " + o.image);
  return meta.find_run(list.front().id);
}

}  // namespace

Result<cache::RunRecord> promote_run(cache::Store& store, const PromoteOptions& o, Reporter& reporter,
                                     std::stop_token stop) {
  // The newest run of the image tells which pipeline names the environments
  // when no run is given; the chosen run's own pipeline is checked below.
  TRY(recover_dead_runs(store));
  cache::Metadata& meta = store.metadata();
  cache::RunRecord run;
  std::optional<pipeline::GitRepo> repo;
  std::optional<pipeline::Commit> commit;
  std::optional<pipeline::Pipeline> pipe;
  ProjectAccess access;
  auto load = [&](const cache::RunRecord& r) -> Status {
    repo.emplace(TRY(open_run_repo(store, r)));
    commit = TRY(repo->resolve(r.commit));
    access = project_access(o.runner_config, r.repo, r.repo_url);
    // On a fleet the images are the agents' business (fleet_submit.h).
    pipe = TRY(load_checked_pipeline(store, *repo, *commit, r.pipeline_file, access, nullptr, o.fleet_db.empty()));
    return {};
  };
  if (!o.run_id.empty()) {
    if (!o.project.empty()) TRY(pick_project(store, o.project, o.image));
    run = TRY(meta.find_run(o.run_id));
    if (!o.project.empty() && run.project != o.project)
      return fail(ErrorKind::invalid_input, "run " + run.id + " belongs to project '" + run.project + "', not '" +
                                                o.project + "'");
    TRY(load(run));
  } else {
    const std::string project = TRY(pick_project(store, o.project, o.image));
    auto latest = TRY(meta.list_runs({.project = project, .image = o.image, .limit = 1}));
    if (latest.empty())
      return fail(ErrorKind::not_found, "no run of image " + o.image +
                                            (project.empty() ? "" : " in project '" + project + "'") +
                                            " (see gantry history)");
    TRY(load(latest.front()));
    run = TRY(pick_run(store, o, project, &*pipe, reporter));
    if (run.id != latest.front().id) TRY(load(run));
  }

  int index = pipe->environment_index(o.environment);
  if (index < 0) {
    std::string known;
    for (const auto& e : pipe->environments) known += (known.empty() ? "" : ", ") + e.name;
    return fail(ErrorKind::not_found, "unknown environment '" + o.environment + "' in " + run.pipeline_file +
                                          " of run " + run.id + " (environments: " + known + ")");
  }
  const cache::RunImage* image = nullptr;
  for (const auto& i : run.images)
    if (i.image == o.image) image = &i;
  if (!image) return fail(ErrorKind::not_found, "run " + run.id + " has no image " + o.image);
  if (run.status == cache::RunStatus::running) return fail(ErrorKind::conflict, "run " + run.id + " is still running");
  // Held until this process ends; the run is "running" again meanwhile (and
  // "interrupted" if this process dies).
  std::optional<cache::RunLock> run_lock;  // a fleet's run is the agents'
  if (o.fleet_db.empty()) run_lock.emplace(TRY(cache::RunLock::acquire(store, run.id)));

  // Every earlier environment must have had this very digest.
  auto promoted = promoted_images(*pipe);
  for (int i = 0; i < index; ++i) {
    const std::string& before = pipe->environments[static_cast<std::size_t>(i)].name;
    for (const auto& name : promoted) {
      const cache::RunImage* ri = nullptr;
      for (const auto& x : run.images)
        if (x.image == name) ri = &x;
      if (!ri) continue;
      if (!TRY(meta.was_promoted(run.project, name, before, ri->digest))) {
        const std::string why = "refusing to promote " + name + " " + ri->digest + " to " + o.environment +
                                ": it has not passed " + before + " (run " + run.id + " is " +
                                std::string(to_string(run.status)) + ")";
        // In the history too: the refusal moves no pointer.
        TRY(meta.refuse({.project = run.project,
                         .image = name,
                         .environment = o.environment,
                         .digest = ri->digest,
                         .commit = run.commit,
                         .run_id = run.id},
                        why));
        return fail(ErrorKind::conflict, why);
      }
    }
  }

  if (!o.fleet_db.empty())
    return promote_on_fleet(store, o.fleet_db, run, *repo, *commit, *pipe, static_cast<std::size_t>(index), reporter,
                            stop);

  RunContext ctx{.store = store, .repo = *repo, .commit = *commit, .pipeline = *pipe, .reporter = reporter};
  ctx.run_id = run.id;
  ctx.project = run.project;
  ctx.run_dir = store.paths().run_dir(run.id);
  ctx.access = std::move(access);
  configure_run_context(ctx, o.runner_config, o.jobs, o.no_cache, o.init_binary, o.launcher, stop);
  ctx.signing_key = TRY(load_signing_key(o.signing_key, o.runner_config));
  ctx.rev = run.rev;
  std::size_t first = static_cast<std::size_t>(index);
  TRY(resolve_secrets(ctx, first, next_manual_gate(*pipe, first, true)));
  for (const auto& ri : run.images) {
    auto digest = TRY(Digest::parse(ri.digest));
    ctx.images.emplace(ri.image, TRY(load_stage_image(store, ri.image, digest, ri.built)));
  }
  // The results of the environments before ENV (those from ENV on never ran:
  // the run stopped at ENV's gate).
  for (const auto& s : run.stages)
    if (pipe->environment_index(s.environment) < index) {
      ctx.results[s.stage] = s;
      ctx.attested_stages.insert(s.stage);  // by the invocation that ran them
    }
  TRY(make_dirs(ctx.run_dir));
  ctx.workspaces = std::make_unique<WorkspaceCache>(*repo, *commit, pipe->base_dir, store.tmp_dir());

  reporter.note("run " + run.id + ": promoting " + o.image + " " + image->digest + " to " + o.environment);
  TRY(meta.set_run_status(run.id, cache::RunStatus::running, "", "", false));
  TRY(record_pending_stages(ctx, first));
  if (auto st = advance(ctx, run, first, true, promoted); !st) {
    run.status = cache::RunStatus::failed;
    run.error = ctx.masker.mask(st.error().message());
    TRY(settle_pending_stages(ctx, run));
    TRY(meta.set_run_status(run.id, run.status, "", run.error, true));
    return fail(std::move(st).error());
  }
  ctx.next_phase("");
  auto record = TRY(meta.find_run(run.id));
  record.phase_ms = std::move(ctx.phase_ms);
  return record;
}

Result<cache::PromotionEvent> rollback_environment(cache::Store& store, const RollbackOptions& o,
                                                   Reporter& reporter) {
  cache::Metadata& meta = store.metadata();
  const std::string project = TRY(pick_project(store, o.project, o.image));
  auto pointer = TRY(meta.environment_pointer(project, o.image, o.environment));
  // Nothing to restore: the store's refusal says so.
  if (!pointer || pointer->previous_digest.empty()) return meta.rollback(project, o.image, o.environment);

  // The environment as the pipeline of the run that set the current digest
  // defines it: where its image is pushed and exported.
  const std::string what = "rolling back " + o.image + " in " + o.environment + " to " + pointer->previous_digest;
  auto run = TRY_CTX(meta.find_run(pointer->run_id), what);
  auto repo = TRY_CTX(open_run_repo(store, run), what);
  auto commit = TRY_CTX(repo.resolve(run.commit), what);
  ProjectAccess access = project_access(o.runner_config, run.repo, run.repo_url);
  auto pipe = TRY_CTX(load_checked_pipeline(store, repo, commit, run.pipeline_file, access), what);
  const pipeline::EnvironmentDef* env = pipe.find_environment(o.environment);
  if (env) {
    // The environment's `require:` holds for the digest restored too.
    auto previous = TRY(Digest::parse(pointer->previous_digest));
    if (auto st = check_promotion(store, *env, access, o.runner_config, o.image, previous); !st) {
      Error refusal = std::move(st).error().context(what + " (not rolled back)");
      // In the history too (no run brings the digest back: run and commit stay empty).
      TRY(meta.refuse({.project = project, .image = o.image, .environment = o.environment,
                       .digest = pointer->previous_digest},
                      refusal.message()));
      return fail(std::move(refusal));
    }
  }
  if (env && (env->push || env->export_path)) {
    RunContext ctx{.store = store, .repo = repo, .commit = commit, .pipeline = pipe, .reporter = reporter};
    ctx.access = std::move(access);
    ctx.project = project;
    ctx.run_id = run.id;
    auto digest = TRY(Digest::parse(pointer->previous_digest));
    ctx.images.emplace(o.image, TRY_CTX(load_stage_image(store, o.image, digest, true), what));
    const std::size_t count = promoted_images(pipe).size();
    // Before the pointer moves: a failure leaves the environment as it was.
    TRY_CTX(push_to_environment(ctx, *env, o.image, count), what + " (not rolled back)");
    TRY_CTX(export_to_environment(ctx, *env, o.image, count), what + " (not rolled back)");
  }
  // Compare-and-swap: refused if another process moved the pointer meanwhile.
  return meta.rollback(project, o.image, o.environment, pointer->digest);
}

}  // namespace gantry::runner
