#include "runner/stage_runner.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <set>

#include "common/file_util.h"
#include "common/unique_fd.h"
#include "common/units.h"
#include "executor/container.h"
#include "runner/container_limits.h"
#include "runner/log_file.h"
#include "runner/stage_artifacts.h"
#include "runner/stage_key.h"

namespace gantry::runner {

namespace {

using Clock = std::chrono::steady_clock;

using StageLog = LogFile;  // every line is masked before it gets here

// Every stage the given one needs, directly or not.
std::set<std::string> ancestors(const pipeline::Pipeline& p, const pipeline::StageDef& stage) {
  std::set<std::string> out;
  std::vector<std::string> todo = stage.needs;
  while (!todo.empty()) {
    std::string name = todo.back();
    todo.pop_back();
    if (!out.insert(name).second) continue;
    if (const auto* s = p.find_stage(name)) todo.insert(todo.end(), s->needs.begin(), s->needs.end());
  }
  return out;
}

std::vector<std::string> stage_env(const RunContext& ctx, const pipeline::StageDef& stage, const StageImage& image) {
  pipeline::EnvList env;
  for (const auto& kv : image.image.config.env) {
    auto eq = kv.find('=');
    if (eq != std::string::npos) pipeline::set_env(env, kv.substr(0, eq), kv.substr(eq + 1));
  }
  for (const auto& e : stage.env) pipeline::set_env(env, e.name, e.value);
  pipeline::set_env(env, "CI", "true");
  pipeline::set_env(env, "GANTRY_ENVIRONMENT", stage.environment);
  pipeline::set_env(env, "GANTRY_STAGE", stage.name);
  pipeline::set_env(env, "GANTRY_IMAGE_DIGEST", image.digest.str());
  pipeline::set_env(env, "GANTRY_ARTIFACTS", kArtifactsMount);
  pipeline::set_env(env, "GANTRY_RUN_ID", ctx.run_id);
  pipeline::set_env(env, "GANTRY_COMMIT", ctx.commit.id);
  if (auto it = ctx.secrets.find(stage.name); it != ctx.secrets.end())
    for (const auto& secret : it->second) pipeline::set_env(env, secret.name, secret.value);
  std::vector<std::string> out;
  for (const auto& e : env) out.push_back(e.name + "=" + e.value);
  return out;
}

std::string sanitize_hostname(const std::string& name) {
  std::string h;
  for (char c : name) h.push_back((std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '-');
  if (h.size() > 63) h.resize(63);
  return h.empty() ? "stage" : h;
}

void record(RunContext& ctx, const cache::StageResult& r) {
  {
    std::lock_guard lock(ctx.mutex);
    ctx.results[r.stage] = r;
  }
  cache::Metadata& meta = ctx.store.metadata();
  if (auto st = meta.record_stage(r); !st) ctx.reporter.note("warning: " + st.error().message());
}

TaskState state_of(const cache::StageResult& r) {
  if (r.status == "skipped") return TaskState::skipped;
  if (r.status == "failed") return TaskState::failed;
  return r.cached ? TaskState::cached : TaskState::passed;
}

}  // namespace

TaskOutcome outcome_of(const cache::StageResult& result) {
  if (result.status == "passed") return TaskOutcome::passed;
  return result.allow_failure ? TaskOutcome::failed_allowed : TaskOutcome::failed;
}

cache::StageResult skip_stage(RunContext& ctx, const pipeline::StageDef& stage, const std::string& failed_need) {
  cache::StageResult r;
  r.run_id = ctx.run_id;
  r.stage = stage.name;
  r.environment = stage.environment;
  r.image = stage.image;
  if (auto it = ctx.images.find(stage.image); it != ctx.images.end()) r.digest = it->second.digest.str();
  r.status = "skipped";
  r.allow_failure = stage.allow_failure;
  r.detail = "needs " + failed_need + " (failed)";
  r.started_ms = cache::now_ms();
  record(ctx, r);
  ctx.reporter.task({stage.environment, stage.name}, TaskState::skipped, {}, r.detail);
  return r;
}

cache::StageResult run_stage(RunContext& ctx, const pipeline::StageDef& stage) {
  TaskId task{stage.environment, stage.name};
  cache::StageResult r;
  r.run_id = ctx.run_id;
  r.stage = stage.name;
  r.environment = stage.environment;
  r.image = stage.image;
  r.allow_failure = stage.allow_failure;
  r.started_ms = cache::now_ms();
  r.log_path = ctx.store.paths().stage_log(ctx.run_id, stage.name);
  auto started = Clock::now();
  auto elapsed = [&] { return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started); };
  auto failed = [&](const std::string& why) {
    r.status = "failed";
    r.detail = ctx.masker.mask(why);
    r.duration_ms = elapsed().count();
    if (auto log = StageLog::open(r.log_path)) log->line("gantry: " + r.detail);
    record(ctx, r);
    ctx.reporter.task(task, TaskState::failed, elapsed(), r.detail);
    return r;
  };

  auto image_it = ctx.images.find(stage.image);
  if (image_it == ctx.images.end()) return failed("image " + stage.image + " is not part of this run");
  const StageImage& image = image_it->second;
  r.digest = image.digest.str();

  // The key: image, definition, environment, workspace identity, needs' keys.
  std::optional<WorkspaceView> view;
  if (stage.workspace) {
    auto v = ctx.workspaces->view(stage.tree_inputs);
    if (!v) return failed("workspace: " + v.error().message());
    view = std::move(*v);
  }
  std::map<std::string, std::string> need_keys;
  std::vector<executor::BindMount> mounts;
  {
    std::lock_guard lock(ctx.mutex);
    for (const auto& name : ancestors(ctx.pipeline, stage)) {
      auto it = ctx.results.find(name);
      if (it == ctx.results.end()) continue;
      need_keys[name] = it->second.cache_key.empty() ? "uncached:" + it->second.run_id : it->second.cache_key;
      if (!it->second.artifacts_dir.empty())
        mounts.push_back({it->second.artifacts_dir, std::string(kArtifactsMount) + "/" + name, true});
    }
  }
  bool use_cache = stage.cache && !ctx.no_cache;
  std::map<std::string, std::string> secret_digests;
  if (auto it = ctx.secrets.find(stage.name); it != ctx.secrets.end())
    for (const auto& secret : it->second) secret_digests[secret.name] = secret.keyed_digest;
  auto record_json = stage_key_record(stage, r.digest, stage.environment,
                                      view ? view->identity : nlohmann::json(), need_keys, secret_digests);
  std::string key = stage_key(record_json).str();
  // Always recorded, so dependants key on it; only reused when caching is on.
  r.cache_key = use_cache ? key : "";

  cache::Metadata& meta = ctx.store.metadata();
  if (use_cache) {
    auto hit = meta.find_cached_stage(key);
    if (!hit)  // never silently a miss: say why the stage runs again
      ctx.reporter.note("warning: stage " + stage.name + ": the stage-cache look-up failed, running it: " +
                        hit.error().message());
    if (hit && *hit && ((*hit)->artifacts_dir.empty() || ::access((*hit)->artifacts_dir.c_str(), F_OK) == 0)) {
      const auto& c = **hit;
      r.status = "passed";
      r.cached = true;
      r.cached_from = c.run_id;
      r.exit_code = c.exit_code;
      // `seconds` is what this run spent (the look-up); the first run's time
      // is kept apart so that adding up a run's seconds never lies.
      r.duration_ms = elapsed().count();
      r.original_ms = c.duration_ms;
      r.log_path = c.log_path;
      r.artifacts_dir = c.artifacts_dir;
      r.detail = "cached from run " + c.run_id + " (took " + format_duration(std::chrono::milliseconds(c.duration_ms)) + " there)";
      record(ctx, r);
      ctx.reporter.task(task, TaskState::cached, elapsed(), r.detail);
      return r;
    }
  }

  ctx.reporter.task(task, TaskState::running, {});
  {
    // Recorded as running (not in ctx.results: dependants key on final
    // results only), so a run interrupted now names this stage.
    cache::StageResult running = r;
    running.status = "running";
    if (auto st = meta.record_stage(running); !st) ctx.reporter.note("warning: " + st.error().message());
  }
  auto log = StageLog::open(r.log_path);
  if (!log) return failed(log.error().message());

  executor::ContainerSpec spec;
  auto lower = ctx.store.images().lowerdirs(image.image);
  if (!lower) return failed("image " + stage.image + ": " + lower.error().message());
  spec.lowerdirs = *lower;
  spec.argv = {"/bin/sh", "-c", stage.script()};
  spec.env = stage_env(ctx, stage, image);
  spec.workdir = image.image.config.working_dir.empty() ? "/" : image.image.config.working_dir;
  spec.user = image.image.config.user;
  spec.hostname = sanitize_hostname(stage.name);
  spec.network = stage.network == pipeline::NetworkMode::host ? executor::NetworkMode::host : executor::NetworkMode::none;
  spec.limits = container_limits(ctx.default_limits, stage.limits);
  spec.timeout = stage.timeout;
  // Not the session scratch dir: the next command deletes that when this
  // process dies, with the cgroups record sweep_leftovers() needs.
  spec.work_root = ctx.store.paths().containers_dir();
  spec.kept_upper_dir = ctx.store.tmp_dir();
  spec.init_binary = ctx.init_binary;
  spec.keep_upper = !stage.artifacts.empty();
  if (view) {
    auto dir = ctx.workspaces->materialize(stage.tree_inputs);
    if (!dir) return failed("workspace: " + dir.error().message());
    spec.mounts.push_back({*dir, kWorkspaceMount, true});
  }
  spec.mounts.insert(spec.mounts.end(), mounts.begin(), mounts.end());
  // Masked on each stream as a whole (secret_mask.h): a value split over
  // pieces of a long line or over lines is caught too.
  auto shown = [&](std::string_view masked) {
    log->line(masked);
    ctx.reporter.output(task, masked);
  };
  MaskedStream out_stream(ctx.masker, shown), err_stream(ctx.masker, shown);
  spec.output = [&](executor::Stream stream, std::string_view line) {
    // The executor cuts a longer line into kMaxLineBytes pieces: the next piece continues it.
    bool continued = line.size() == executor::kMaxLineBytes;
    (stream == executor::Stream::err ? err_stream : out_stream).line(line, continued);
  };

  unsigned attempts = stage.retry + 1;
  for (unsigned attempt = 1; attempt <= attempts; ++attempt) {
    r.attempts = static_cast<int>(attempt);
    if (attempts > 1) log->line("gantry: attempt " + std::to_string(attempt) + " of " + std::to_string(attempts));
    auto result = executor::run(spec, ctx.stop);
    out_stream.finish();
    err_stream.finish();
    if (!result) {
      r.exit_code = executor::start_failure_exit_code(result.error());
      r.detail = ctx.masker.mask(result.error().message());
      log->line("gantry: " + r.detail);
      continue;
    }
    // The upper dir is ours now: removed when this scope ends.
    struct UpperGuard {
      std::string path;
      ~UpperGuard() {
        if (!path.empty()) (void)remove_tree(path);
      }
    } upper{result->upper_dir};
    r.exit_code = result->exit_code;
    r.detail.clear();
    if (result->timed_out) r.detail = "timed out after " + format_duration(*stage.timeout);
    else if (result->oom_killed) r.detail = "killed: out of memory";
    else if (result->cancelled) r.detail = "cancelled";
    else if (result->exit_code != 0) r.detail = "exit code " + std::to_string(result->exit_code);
    if (result->upper_full && !r.detail.empty())
      r.detail += " (its writes filled the " + std::to_string(spec.limits.tmpfs_bytes.value_or(0) >> 20) +
                  " MiB upper tmpfs: limits.tmpfs)";
    if (!r.detail.empty()) {
      log->line("gantry: " + r.detail);
      if (result->cancelled) break;
      continue;
    }
    if (!stage.artifacts.empty()) {
      std::string dest = ctx.store.paths().stage_artifacts(ctx.run_id, stage.name);
      (void)remove_tree(dest);
      if (auto st = collect_artifacts(stage.artifacts, result->upper_dir, spec.lowerdirs, dest); !st) {
        r.detail = st.error().message();
        log->line("gantry: " + r.detail);
        continue;
      }
      r.artifacts_dir = dest;
    }
    r.status = "passed";
    break;
  }
  r.duration_ms = elapsed().count();
  if (r.status != "passed") {
    r.status = "failed";
    if (stage.allow_failure) r.detail += r.detail.empty() ? "failure allowed" : " (failure allowed)";
  } else if (use_cache) {
    cache::CachedStage c;
    c.key = key;
    c.record = record_json.dump();
    c.run_id = ctx.run_id;
    c.stage = stage.name;
    c.exit_code = r.exit_code;
    c.duration_ms = r.duration_ms;
    c.log_path = r.log_path;
    c.artifacts_dir = r.artifacts_dir;
    if (auto st = meta.put_cached_stage(c); !st) ctx.reporter.note("warning: " + st.error().message());
  }
  record(ctx, r);
  ctx.reporter.task(task, state_of(r), elapsed(), r.detail);
  return r;
}

}  // namespace gantry::runner
