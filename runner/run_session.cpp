#include "runner/run_session.h"

#include "cache/environment_turns.h"

#include <chrono>
#include <algorithm>
#include <set>

#include "cache/metadata.h"
#include "cache/image_store.h"
#include "cache/oci_transfer.h"
#include "common/file_util.h"
#include "pipeline/loader.h"
#include "registry/registry_options.h"
#include "registry/transfer.h"
#include "runner/registry_refs.h"
#include "runner/run_attest.h"
#include "runner/run_lifecycle.h"
#include "runner/run_signals.h"
#include "runner/stage_runner.h"
#include "runner/stage_scheduler.h"

namespace gantry::runner {

std::string git_mirror_root(const cache::Store& store) { return store.paths().git_dir(); }

Result<pipeline::GitRepo> open_run_repo(cache::Store& store, const cache::RunRecord& run) {
  auto repo = pipeline::GitRepo::open(run.repo, git_mirror_root(store));
  if (repo || run.repo_url.empty() || run.repo_url == run.repo) return repo;
  auto mirrored = pipeline::GitRepo::open(run.repo_url, git_mirror_root(store));
  if (mirrored) return mirrored;
  return fail(std::move(repo).error().context("repository of run " + run.id + " (its remote " + run.repo_url +
                                              " failed too: " + mirrored.error().message() + ")"));
}

void RunContext::next_phase(const std::string& next) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(store.clock().steady_now().time_since_epoch())
                 .count();
  if (!current_phase.empty()) phase_ms.emplace_back(current_phase, now - phase_started_ms);
  current_phase = next;
  phase_started_ms = now;
}

Result<pipeline::Pipeline> load_checked_pipeline(cache::Store& store, pipeline::GitRepo& repo,
                                                 const pipeline::Commit& commit, const std::string& file,
                                                 const ProjectAccess& access, Reporter* reporter, bool images_here) {
  auto p = TRY(pipeline::load_pipeline_from_git(repo, commit, file));
  // Store references see the build tags of the project the run will have
  // (run_project checks a claimed `project:` right after).
  RegistryRefs refs(store, reporter, cache::TagScope::of(p.project.empty() ? access.project : p.project));
  pipeline::Diagnostics diags =
      refs.explain(p, pipeline::validate_refs(p, [&](const std::string& ref) { return !images_here || refs.exists(ref); }));
  for (const auto& stage : p.stages) {
    int own = p.environment_index(stage.environment);
    for (const auto& need : stage.needs) {
      const auto* other = p.find_stage(need);
      if (other && p.environment_index(other->environment) > own)
        diags.add(stage.file, stage.pos, "stages." + stage.name + ".needs",
                  "'" + need + "' runs in a later environment (" + other->environment + ") than '" + stage.name +
                      "' (" + stage.environment + ")");
    }
  }
  diags.append(check_project_access(p, promoted_images(p), access));
  if (!diags.empty()) {
    diags.sort();
    return fail(diags.to_error());
  }
  return p;
}

namespace {

// Which repository a run came from: its remote URL, else its location.
std::string repo_identity(const std::string& location, const std::string& remote_url) {
  return remote_url.empty() ? location : remote_url;
}

std::string project_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + (n.empty() ? std::string("''") : n);
  return out.empty() ? "none" : out;
}

}  // namespace

Result<std::string> run_project(cache::Store& store, const pipeline::Pipeline& p, const pipeline::GitRepo& repo,
                                const ProjectAccess& access, Reporter& reporter) {
  const std::string project = p.project.empty() ? access.project : p.project;
  const std::string self = repo_identity(repo.location(), repo.remote_url());
  cache::Metadata& meta = store.metadata();
  auto runs = TRY(meta.list_runs({.project = project, .limit = 1, .with_details = false}));
  if (runs.empty()) return project;
  const cache::RunRecord* newest = &runs.front();
  const std::string other = repo_identity(newest->repo, newest->repo_url);
  if (other == self) return project;
  if (!p.project.empty() && p.project != access.project) {
    pipeline::Diagnostics diags;
    diags.add(p.file, p.project_pos, "project",
              "project '" + p.project + "' holds the runs of another repository (" + other + ", run " + newest->id +
                  "): a pipeline may not claim another repository's project; remove `project:` (this "
                  "repository's own project is '" + access.project + "') or choose an unused name");
    return fail(diags.to_error());
  }
  reporter.note("note: project '" + project + "' also holds runs of " + other +
                "; set `project:` in the pipeline file to keep their environments apart");
  return project;
}

Result<std::string> pick_project(cache::Store& store, const std::string& wanted, const std::string& image) {
  cache::Metadata& meta = store.metadata();
  if (!wanted.empty()) {
    auto all = TRY(meta.projects());
    if (std::find(all.begin(), all.end(), wanted) == all.end())
      return fail(ErrorKind::not_found, "unknown project '" + wanted + "': no run or environment of the store has it" +
                                            " (projects: " + project_list(all) + ")");
    return wanted;
  }
  auto candidates = TRY(meta.projects(image));
  if (candidates.size() == 1) return candidates.front();
  if (candidates.empty()) return std::string();
  return fail(ErrorKind::invalid_input,
              std::string("several projects ") + (image.empty() ? "are in the store" : "have an image '" + image + "'") +
                  ": name one with --project (candidates: " + project_list(candidates) + ")");
}

std::vector<std::string> promoted_images(const pipeline::Pipeline& p) {
  std::set<std::string> bases;
  for (const auto& image : p.images) bases.insert(image.from);
  std::vector<std::string> out;
  for (const auto& image : p.images)
    if (!bases.count(image.name)) out.push_back(image.name);
  if (out.empty()) {
    std::set<std::string> seen;
    for (const auto& stage : p.stages)
      if (seen.insert(stage.image).second) out.push_back(stage.image);
  }
  return out;
}

Result<StageImage> load_stage_image(cache::Store& store, const std::string& name, const Digest& digest, bool built) {
  auto image = TRY_CTX(store.images().load(digest), "image " + name);
  return StageImage{name, digest, std::move(image), built};
}

Status resolve_secrets(RunContext& ctx, std::size_t first, std::size_t last) {
  SecretSources sources(ctx.store.paths(), ctx.access.project, ctx.access.policy, ctx.max_secret_bytes,
                        ctx.access.config_shown);
  for (std::size_t i = first; i < last && i < ctx.pipeline.environments.size(); ++i) {
    for (const auto* stage : ctx.pipeline.stages_of(ctx.pipeline.environments[i].name)) {
      auto& list = ctx.secrets[stage->name];
      list.clear();
      for (const auto& secret : stage->secrets) {
        auto resolved = TRY(sources.resolve(stage->name, stage->environment, secret.name));
        ctx.masker.add(resolved.value);
        list.push_back(std::move(resolved));
      }
    }
  }
  return {};
}

std::size_t next_manual_gate(const pipeline::Pipeline& p, std::size_t from, bool open_first) {
  for (std::size_t i = from; i < p.environments.size(); ++i) {
    if (i == from && open_first) continue;
    if (p.environments[i].when == pipeline::Gate::manual) return i;
  }
  return p.environments.size();
}

namespace {

// Whether a stage of the run ended "cancelled" because a newer run of its
// branch was queued (interruptible:, run_signals.h).
bool stages_cancelled_by_newer_run(RunContext& ctx) {
  std::lock_guard lock(ctx.mutex);
  for (const auto& [name, r] : ctx.results)
    if (r.status == cache::StageStatus::cancelled) return true;
  return false;
}

// Runs one environment's stages; true when every required one passed.
Result<bool> run_environment_stages(RunContext& ctx, const std::string& environment) {
  std::vector<DagTask> tasks;
  std::map<std::string, const pipeline::StageDef*> defs;
  for (const auto* stage : ctx.pipeline.stages_of(environment)) {
    tasks.push_back({stage->name, stage->needs});
    defs[stage->name] = stage;
    ctx.reporter.task({environment, stage->name}, TaskState::queued, {});
  }
  if (tasks.empty()) return true;
  auto result = TRY(run_dag(
      tasks, ctx.jobs, [&](const std::string& name) { return outcome_of(run_stage(ctx, *defs.at(name))); },
      [&](const std::string& name, const std::string& failed) { skip_stage(ctx, *defs.at(name), failed); }));
  return !result.failed;
}

std::string export_destination(const std::string& path, const std::string& image, std::size_t image_count) {
  std::string dest = path;
  if (auto pos = dest.find("{image}"); pos != std::string::npos) dest.replace(pos, 7, image);
  else if (image_count > 1 && dest.ends_with(".tar")) dest.insert(dest.size() - 4, "-" + image);
  return dest;
}

// Pushes the promoted image (the same manifest bytes, so the registry's
// digest is the digest tested) to the environment's `push:` reference;
// `{image}` in it is replaced by the image name.
Status push_promoted(RunContext& ctx, const pipeline::EnvironmentDef& env, const std::string& name,
                     const std::string& digest, std::size_t image_count) {
  std::string dest = *env.push;
  if (auto pos = dest.find("{image}"); pos != std::string::npos) dest.replace(pos, 7, name);
  else if (image_count > 1)
    return fail(ErrorKind::invalid_input, "push target " + dest + " of " + env.name + " names one image but " +
                                              std::to_string(image_count) +
                                              " images are promoted: put {image} in it; not promoted to " + env.name);
  // Refused before any network I/O: the runner decides where a project may push.
  TRY_CTX(check_push_allowed(dest, ctx.access), "not promoted to " + env.name);
  auto options = registry::registry_options_from_env();
  options.progress = false;  // the run's reporter owns the terminal
  auto pushed = registry::push_image(ctx.store, digest, dest, options);
  if (!pushed)
    return fail(std::move(pushed).error().context("pushing " + name + " " + digest + " to " + dest +
                                                  " on promotion to " + env.name + " (not promoted)"));
  const auto& c = pushed->counts;
  ctx.reporter.note("pushed " + name + " " + pushed->manifest_digest.str() + " to " + pushed->reference + " (" +
                    (pushed->tag_only ? std::string("already there: tag only")
                                      : std::to_string(c.blobs_uploaded) + " blobs uploaded, " +
                                            std::to_string(c.bytes_uploaded) + " bytes, " +
                                            std::to_string(c.blobs_mounted) + " mounted, " +
                                            std::to_string(c.blobs_present) + " present") +
                    ")");
  return {};
}

}  // namespace

Status promote_images(RunContext& ctx, const pipeline::EnvironmentDef& env, const std::vector<std::string>& promoted) {
  // The environment's `require:` first, for every image: a refusal pushes
  // and moves nothing.
  for (const auto& name : promoted)
    if (auto it = ctx.images.find(name); it != ctx.images.end())
      if (auto st = check_promotion(ctx.store, env, ctx.access, ctx.runner_config, name, it->second.digest); !st)
        return record_refusal(ctx, env.name, name, it->second.digest.str(), std::move(st).error());
  cache::Metadata& meta = ctx.store.metadata();
  // The rule, checked again in the promotion's transaction: a digest never
  // skips an environment.
  std::vector<std::string> before;
  for (const auto& e : ctx.pipeline.environments) {
    if (e.name == env.name) break;
    before.push_back(e.name);
  }
  for (const auto& name : promoted) {
    auto it = ctx.images.find(name);
    if (it == ctx.images.end()) continue;
    const std::string digest = it->second.digest.str();
    // Push before the pointer moves: a failed push leaves the environment as it was.
    TRY(push_to_environment(ctx, env, name, promoted.size()));
    auto event = TRY(meta.promote({.project = ctx.project,
                                            .image = name,
                                            .environment = env.name,
                                            .digest = digest,
                                            .commit = ctx.commit.id,
                                            .run_id = ctx.run_id,
                                            .must_have_passed = before}));
    if (event)
      ctx.reporter.note("promoted " + name + " " + digest + " to " + env.name +
                        (event->replaced_digest.empty() ? "" : " (was " + event->replaced_digest + ")"));
    else
      ctx.reporter.note(name + " " + digest + " is already in " + env.name);
    TRY(export_to_environment(ctx, env, name, promoted.size()));
  }
  return {};
}

namespace {

// "app sha256:…, lib sha256:…" when every promoted image of the run is at
// that very digest in `environment` now; "" otherwise.
Result<std::string> already_in(RunContext& ctx, const std::string& environment,
                               const std::vector<std::string>& promoted) {
  cache::Metadata& meta = ctx.store.metadata();
  std::string out;
  for (const auto& name : promoted) {
    auto it = ctx.images.find(name);
    if (it == ctx.images.end()) continue;
    auto pointer = TRY(meta.environment_pointer(ctx.project, name, environment));
    if (!pointer || pointer->digest != it->second.digest.str()) return std::string();
    out += (out.empty() ? "" : ", ") + name + " " + pointer->digest;
  }
  return out;
}

Status wait_at_gate(RunContext& ctx, cache::RunRecord& run, const pipeline::EnvironmentDef& env,
                    const std::vector<std::string>& promoted) {
  run.status = cache::RunStatus::waiting;
  run.waiting_environment = env.name;
  TRY(settle_pending_stages(ctx, run));  // "waiting at manual gate ENV"
  ctx.reporter.note("waiting at the manual gate of " + env.name + ": gantry promote " +
                    (promoted.empty() ? std::string("IMAGE") : promoted.front()) + " --to " + env.name +
                    " --run " + ctx.run_id);
  cache::Metadata& meta = ctx.store.metadata();
  return meta.set_run_status(run.id, run.status, run.waiting_environment, "", false);
}

}  // namespace

Status push_to_environment(RunContext& ctx, const pipeline::EnvironmentDef& env, const std::string& name,
                           std::size_t image_count) {
  if (!env.push) return {};
  return push_promoted(ctx, env, name, ctx.images.at(name).digest.str(), image_count);
}

Status export_to_environment(RunContext& ctx, const pipeline::EnvironmentDef& env, const std::string& name,
                             std::size_t image_count) {
  if (!env.export_path) return {};
  const StageImage& image = ctx.images.at(name);
  // Below the runner's export_dir for the project, reached fd-relative.
  std::string rel = export_destination(*env.export_path, name, image_count);
  std::string ref_name = image_count > 1 ? name + "-" + env.name : env.name;
  auto target = TRY_CTX(open_export_target(ctx.access, rel), "exporting " + name + " to " + env.name);
  TRY_CTX(cache::export_image(ctx.store, image.digest, target.fd_path(), ref_name),
          "exporting " + name + " " + image.digest.str() + " to " + target.shown + " for " + env.name);
  ctx.reporter.note("exported " + name + " " + image.digest.str() + " to " + target.shown + " (ref " + ref_name + ")");
  return {};
}

// Waits for the run's turn at an environment with `concurrency:` (others run
// its stages or promote into it): the run shows `waiting_environment` while
// it waits (status still running) and the reporter says who is ahead.
Result<cache::EnvironmentTurn> take_turn(RunContext& ctx, cache::RunRecord& run, const pipeline::EnvironmentDef& env,
                                         int slots) {
  cache::Metadata& meta = ctx.store.metadata();
  bool waited = false;
  auto turn = cache::EnvironmentTurn::take(
      ctx.store, run.project, env.name, run.id, slots, ctx.stop, [&](const std::vector<std::string>& ahead) {
        std::string who = "run " + ahead.front();
        if (ahead.size() > 1) who += " and " + std::to_string(ahead.size() - 1) + " more ahead";
        ctx.reporter.note("waiting for " + env.name + " (" + who + ")");
        if (!waited) (void)meta.set_run_status(run.id, cache::RunStatus::running, env.name, "", false);
        waited = true;
      });
  if (waited) (void)meta.set_run_status(run.id, cache::RunStatus::running, "", "", false);
  if (!turn) return fail(std::move(turn).error().context(env.name));
  return std::move(*turn);
}

Status advance(RunContext& ctx, cache::RunRecord& run, std::size_t first, bool open_first,
               const std::vector<std::string>& promoted) {
  cache::Metadata& meta = ctx.store.metadata();
  const auto& envs = ctx.pipeline.environments;
  for (std::size_t i = first; i < envs.size(); ++i) {
    const auto& env = envs[i];
    const bool gate = env.when == pipeline::Gate::manual;
    const bool opened = gate && i == first && open_first;  // by gantry promote
    if (opened)
      TRY(meta.record_gate(run.id,
                           {.environment = env.name, .how = cache::GateOutcome::promoted, .detail = "gantry promote"}));
    if (gate && !opened) {
      // A digest already in the environment was let through this gate
      // before: passing it again needs nobody.
      const std::string there = TRY(already_in(ctx, env.name, promoted));
      if (there.empty()) return wait_at_gate(ctx, run, env, promoted);
      std::string detail = there + " already in " + env.name + ": its manual gate is passed without waiting";
      ctx.reporter.note(detail);
      TRY(meta.record_gate(run.id,
                           {.environment = env.name, .how = cache::GateOutcome::already_there, .detail = detail}));
      TRY(resolve_secrets(ctx, i, next_manual_gate(ctx.pipeline, i, true)));
    }
    // One deploy at a time: held until this environment's promotion is done.
    std::optional<cache::EnvironmentTurn> turn;
    if (const int slots = env.slots(); slots > 0) turn.emplace(TRY(take_turn(ctx, run, env, slots)));
    ctx.next_phase(env.name);
    if (!ctx.pipeline.stages_of(env.name).empty()) ctx.reporter.phase(env.name);
    bool ok = TRY(run_environment_stages(ctx, env.name));
    if (!ok) {
      const bool superseded = stages_cancelled_by_newer_run(ctx);
      run.status = superseded ? cache::RunStatus::interrupted : cache::RunStatus::failed;
      run.waiting_environment.clear();
      run.error = superseded ? "a newer run of the branch was queued: its interruptible stages were cancelled; not "
                               "promoted to " + env.name
                             : "stages of " + env.name + " failed; not promoted to " + env.name;
      ctx.reporter.note(run.error);
      TRY(settle_pending_stages(ctx, run));  // "environment E not reached"
      return meta.set_run_status(run.id, run.status, "", run.error, true);
    }
    ctx.next_phase("promote " + env.name);
    disarm_supersession();  // a promotion and what follows it are never interrupted (run_signals.h)
    auto st = attest_passed_stages(ctx, env.name);
    if (st) st = promote_images(ctx, env, promoted);
    if (!st) {
      run.status = cache::RunStatus::failed;
      run.error = ctx.masker.mask(st.error().message());
      ctx.reporter.note(run.error);
      TRY(settle_pending_stages(ctx, run));
      return meta.set_run_status(run.id, run.status, "", run.error, true);
    }
  }
  run.status = cache::RunStatus::passed;
  run.waiting_environment.clear();
  TRY(settle_pending_stages(ctx, run));  // none left, unless a stage was never scheduled
  return meta.set_run_status(run.id, run.status, "", "", true);
}

}  // namespace gantry::runner
