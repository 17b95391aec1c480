#include "runner/stage_runner.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <stop_token>

#include "common/file_util.h"
#include "common/unique_fd.h"
#include "common/units.h"
#include "executor/container.h"
#include "runner/cache_mounts.h"
#include "runner/container_limits.h"
#include "runner/log_file.h"
#include "runner/run_signals.h"
#include "runner/stage_artifacts.h"
#include "runner/stage_key.h"
#include "runner/stage_services.h"
#include "runner/stage_tests.h"

namespace gantry::runner {

namespace {

using StageLog = LogFile;  // every line is masked before it gets here

// GANTRY_ATTEMPT=N (1-based) in a container's environment: which attempt of
// a stage with `retry:` this is (never part of the stage key).
void set_attempt_env(std::vector<std::string>& env, unsigned attempt) {
  const std::string entry = "GANTRY_ATTEMPT=" + std::to_string(attempt);
  for (auto& e : env)
    if (e.starts_with("GANTRY_ATTEMPT=")) {
      e = entry;
      return;
    }
  env.push_back(entry);
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
  if (r.status == cache::StageStatus::skipped) return TaskState::skipped;
  if (r.status == cache::StageStatus::failed || r.status == cache::StageStatus::cancelled) return TaskState::failed;
  return r.cached ? TaskState::cached : TaskState::passed;
}

}  // namespace

std::set<std::string> stage_ancestors(const pipeline::Pipeline& p, const pipeline::StageDef& stage) {
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

TaskOutcome outcome_of(const cache::StageResult& result) {
  if (result.status == cache::StageStatus::passed) return TaskOutcome::passed;
  return result.allow_failure ? TaskOutcome::failed_allowed : TaskOutcome::failed;
}

cache::StageResult skip_stage(RunContext& ctx, const pipeline::StageDef& stage, const std::string& failed_need) {
  cache::StageResult r;
  r.run_id = ctx.run_id;
  r.stage = stage.name;
  r.environment = stage.environment;
  r.image = stage.image;
  if (auto it = ctx.images.find(stage.image); it != ctx.images.end()) r.digest = it->second.digest.str();
  r.status = cache::StageStatus::skipped;
  r.allow_failure = stage.allow_failure;
  r.detail = "needs " + failed_need + " (failed)";
  r.started_ms = ctx.store.clock().now_ms();
  record(ctx, r);
  ctx.reporter.task({stage.environment, stage.name}, TaskState::skipped, {}, r.detail);
  return r;
}

namespace {

// One stage, as a linear list of named phases (run()): pin the image, key
// the stage, reuse a cached result, mark it running, open its log, make the
// container spec, run the attempts, record the outcome. Any phase's error
// becomes a failed result naming it (failed()).
class StageRun {
 public:
  StageRun(RunContext& ctx, const pipeline::StageDef& stage) : ctx_(ctx), stage_(stage), task_{stage.environment, stage.name} {
    r_.run_id = ctx.run_id;
    r_.stage = stage.name;
    r_.environment = stage.environment;
    r_.image = stage.image;
    r_.allow_failure = stage.allow_failure;
    r_.started_ms = clock_.now_ms();
    r_.log_path = ctx.store.paths().stage_log(ctx.run_id, pipeline::stage_file_name(stage.name));
  }

  cache::StageResult run() {
    auto image = pin_image();
    if (!image) return failed(image.error().message());
    if (auto st = compute_key(); !st) return failed(st.error().message());
    if (auto hit = reuse_cached()) return *hit;
    if (interruptible() && superseded()) return cancelled_by_newer_run();
    mark_running();
    auto log = StageLog::open(r_.log_path);
    if (!log) return failed(log.error().message());
    auto spec = container_spec(**image);
    if (!spec) return failed(spec.error().message());
    if (auto st = attach_caches_and_services(*spec, *log); !st) return failed(st.error().message());
    run_attempts(*spec, *log);
    return finish();
  }

 private:
  std::chrono::milliseconds elapsed() const { return clock_.since(started_); }

  static constexpr const char* kSuperseded = "cancelled: a newer run of the branch was queued (interruptible)";

  bool interruptible() const { return stage_.interruptible.value_or(ctx_.pipeline.interruptible); }

  // An interruptible stage of a superseded run that never started.
  cache::StageResult cancelled_by_newer_run() {
    r_.status = cache::StageStatus::cancelled;
    r_.detail = kSuperseded;
    r_.duration_ms = elapsed().count();
    if (auto log = StageLog::open(r_.log_path)) log->line("gantry: " + r_.detail);
    record(ctx_, r_);
    ctx_.reporter.task(task_, TaskState::failed, elapsed(), r_.detail);
    return r_;
  }

  // What stops this stage's containers: the run's stop, and for an
  // interruptible stage a newer run of the branch too (run_signals.h).
  std::stop_token container_stop() {
    if (!interruptible()) return ctx_.stop;
    if (!on_run_stop_) {
      on_run_stop_.emplace(ctx_.stop, [this] { stage_stop_.request_stop(); });
      on_superseded_.emplace(superseded_token(), [this] {
        if (!superseded()) return;  // the run promotes already: nothing is interrupted
        superseded_hit_ = true;
        stage_stop_.request_stop();
      });
    }
    return stage_stop_.get_token();
  }

  cache::StageResult failed(const std::string& why) {
    r_.status = cache::StageStatus::failed;
    r_.detail = ctx_.masker.mask(why);
    r_.duration_ms = elapsed().count();
    if (auto log = StageLog::open(r_.log_path)) log->line("gantry: " + r_.detail);
    record(ctx_, r_);
    ctx_.reporter.task(task_, TaskState::failed, elapsed(), r_.detail);
    return r_;
  }

  // The image's exact digest, as the run pinned it.
  Result<const StageImage*> pin_image() {
    auto it = ctx_.images.find(stage_.image);
    if (it == ctx_.images.end()) return fail(ErrorKind::not_found, "image " + stage_.image + " is not part of this run");
    r_.digest = it->second.digest.str();
    return &it->second;
  }

  // The key: image, definition, environment, workspace identity, needs' keys
  // (and the artifacts of the needs, mounted later).
  Status compute_key() {
    if (stage_.workspace) view_ = TRY_CTX(ctx_.workspaces->view(stage_.tree_inputs), "workspace");
    std::map<std::string, std::string> need_keys;
    {
      std::lock_guard lock(ctx_.mutex);
      for (const auto& name : stage_ancestors(ctx_.pipeline, stage_)) {
        auto it = ctx_.results.find(name);
        if (it == ctx_.results.end()) continue;
        need_keys[name] = it->second.cache_key.empty() ? "uncached:" + it->second.run_id : it->second.cache_key;
        if (!it->second.artifacts_dir.empty())
          need_mounts_.push_back(
              {it->second.artifacts_dir, std::string(kArtifactsMount) + "/" + pipeline::stage_file_name(name), true});
      }
    }
    use_cache_ = stage_.cache && !ctx_.no_cache;
    std::map<std::string, std::string> secret_digests;
    if (auto it = ctx_.secrets.find(stage_.name); it != ctx_.secrets.end())
      for (const auto& secret : it->second) secret_digests[secret.name] = secret.keyed_digest;
    std::map<std::string, std::string> service_digests;
    for (const auto& svc : stage_.services)
      if (auto it = ctx_.images.find(svc.image); it != ctx_.images.end())
        service_digests[svc.name] = it->second.digest.str();
    record_json_ = stage_key_record(stage_, r_.digest, stage_.environment, view_ ? view_->identity : nlohmann::json(),
                                    need_keys, secret_digests, service_digests);
    key_ = stage_key(record_json_).str();
    // Always recorded, so dependants key on it; only reused when caching is on.
    r_.cache_key = use_cache_ ? key_ : "";
    return {};
  }

  // A passed result of the same key whose artifacts are still there.
  std::optional<cache::StageResult> reuse_cached() {
    if (!use_cache_) return std::nullopt;
    auto hit = runs_.find_cached_stage(key_);
    if (!hit)  // never silently a miss: say why the stage runs again
      ctx_.reporter.note("warning: stage " + stage_.name + ": the stage-cache look-up failed, running it: " +
                         hit.error().message());
    if (!hit || !*hit || !((*hit)->artifacts_dir.empty() || ::access((*hit)->artifacts_dir.c_str(), F_OK) == 0))
      return std::nullopt;
    const auto& c = **hit;
    r_.status = cache::StageStatus::passed;
    r_.cached = true;
    r_.cached_from = c.run_id;
    r_.exit_code = c.exit_code;
    // `seconds` is what this run spent (the look-up); the first run's time
    // is kept apart so that adding up a run's seconds never lies.
    r_.duration_ms = elapsed().count();
    r_.original_ms = c.duration_ms;
    r_.log_path = c.log_path;
    r_.artifacts_dir = c.artifacts_dir;
    r_.detail = "cached from run " + c.run_id + " (took " + format_duration(std::chrono::milliseconds(c.duration_ms)) + " there)";
    record(ctx_, r_);
    ctx_.reporter.task(task_, TaskState::cached, elapsed(), r_.detail);
    return r_;
  }

  // Recorded as running (not in ctx.results: dependants key on final
  // results only), so a run interrupted now names this stage.
  void mark_running() {
    ctx_.reporter.task(task_, TaskState::running, {});
    cache::StageResult running = r_;
    running.status = cache::StageStatus::running;
    if (auto st = runs_.record_stage(running); !st) ctx_.reporter.note("warning: " + st.error().message());
  }

  Result<executor::ContainerSpec> container_spec(const StageImage& image) {
    executor::ContainerSpec spec;
    spec.lowerdirs = TRY_CTX(ctx_.store.images().lowerdirs(image.image), "image " + stage_.image);
    spec.argv = {"/bin/sh", "-c", stage_.script()};
    spec.env = stage_env(ctx_, stage_, image);
    spec.workdir = image.image.config.working_dir.empty() ? "/" : image.image.config.working_dir;
    spec.user = image.image.config.user;
    spec.hostname = sanitize_hostname(stage_.name);
    spec.network = stage_.network == pipeline::NetworkMode::host ? executor::NetworkMode::host : executor::NetworkMode::none;
    spec.limits = container_limits(ctx_.default_limits, stage_.limits);
    spec.timeout = stage_.timeout;
    // Not the session scratch dir: the next command deletes that when this
    // process dies, with the cgroups record sweep_leftovers() needs.
    spec.work_root = ctx_.store.paths().containers_dir();
    spec.kept_upper_dir = ctx_.store.tmp_dir();
    spec.init_binary = ctx_.init_binary;
    spec.keep_upper = !stage_.artifacts.empty() || !stage_.junit_reports.empty();
    if (view_) {
      auto dir = TRY_CTX(ctx_.workspaces->materialize(stage_.tree_inputs), "workspace");
      spec.mounts.push_back({dir, kWorkspaceMount, true});
    }
    spec.mounts.insert(spec.mounts.end(), need_mounts_.begin(), need_mounts_.end());
    return spec;
  }

  // Cache directories (locked as their sharing says, never keyed) and
  // services (started now; the stage joins their network namespace once
  // every probe succeeded).
  Status attach_caches_and_services(executor::ContainerSpec& spec, StageLog& log) {
    auto note = [&](const std::string& line) {
      log.line(line);
      ctx_.reporter.output(task_, line);
    };
    caches_ = TRY(acquire_cache_mounts(ctx_.store, ctx_.access.project, stage_.caches,
                                       [&](const std::string& m) { note("gantry: " + m); }, ctx_.stop));
    spec.mounts.insert(spec.mounts.end(), caches_->mounts.begin(), caches_->mounts.end());
    if (stage_.services.empty()) return {};
    services_ = TRY_CTX(StageServices::start(ctx_, stage_, r_.log_path, note), "services");
    TRY(services_->wait_ready(ctx_.stop));
    spec.netns_fd = services_->netns_fd();
    spec.extra_hosts = services_->hosts();
    return {};
  }

  // Why an attempt that ran failed ("" = it passed).
  std::string attempt_failure(const executor::ContainerResult& result, const executor::ContainerSpec& spec) const {
    std::string detail;
    if (result.timed_out) detail = "timed out after " + format_duration(*stage_.timeout);
    else if (result.oom_killed) detail = "killed: out of memory";
    else if (result.cancelled) detail = "cancelled";
    else if (result.exit_code != 0) detail = "exit code " + std::to_string(result.exit_code);
    if (result.upper_full && !detail.empty())
      detail += " (its writes filled the " + std::to_string(spec.limits.tmpfs_bytes.value_or(0) >> 20) +
                " MiB upper tmpfs: limits.tmpfs)";
    return detail;
  }

  // Up to retry + 1 attempts, until one passes (artifacts collected) or the
  // run is cancelled. Sets r_.status "passed" on success.
  void run_attempts(executor::ContainerSpec& spec, StageLog& log) {
    // Masked on each stream as a whole (secret_mask.h): a value split over
    // pieces of a long line or over lines is caught too.
    auto shown = [&](std::string_view masked) {
      log.line(masked);
      ctx_.reporter.output(task_, masked);
    };
    MaskedStream out_stream(ctx_.masker, shown), err_stream(ctx_.masker, shown);
    spec.output = [&](executor::Stream stream, std::string_view line) {
      // The executor cuts a longer line into kMaxLineBytes pieces: the next piece continues it.
      bool continued = line.size() == executor::kMaxLineBytes;
      (stream == executor::Stream::err ? err_stream : out_stream).line(line, continued);
    };

    unsigned attempts = stage_.retry + 1;
    for (unsigned attempt = 1; attempt <= attempts; ++attempt) {
      r_.attempts = static_cast<int>(attempt);
      set_attempt_env(spec.env, attempt);
      if (attempts > 1) log.line("gantry: attempt " + std::to_string(attempt) + " of " + std::to_string(attempts));
      auto result = ctx_.launcher->run(spec, container_stop());
      out_stream.finish();
      err_stream.finish();
      if (!result) {
        r_.exit_code = executor::start_failure_exit_code(result.error());
        r_.detail = ctx_.masker.mask(result.error().message());
        log.line("gantry: " + r_.detail);
        continue;
      }
      // The upper dir is ours now: removed when this scope ends.
      struct UpperGuard {
        std::string path;
        ~UpperGuard() {
          if (!path.empty()) (void)remove_tree(path);
        }
      } upper{result->upper_dir};
      if (!stage_.junit_reports.empty()) read_tests(static_cast<int>(attempt), result->upper_dir, spec, log);
      r_.exit_code = result->exit_code;
      r_.detail = attempt_failure(*result, spec);
      if (!r_.detail.empty()) {
        if (result->cancelled && superseded_hit_ && !ctx_.stop.stop_requested()) {
          cancelled_by_newer_ = true;
          r_.detail = kSuperseded;
        }
        log.line("gantry: " + r_.detail);
        if (result->cancelled) break;
        continue;
      }
      if (!stage_.artifacts.empty()) {
        std::string dest = ctx_.store.paths().stage_artifacts(ctx_.run_id, pipeline::stage_file_name(stage_.name));
        (void)remove_tree(dest);
        if (auto st = collect_artifacts(stage_.artifacts, result->upper_dir, spec.lowerdirs, dest); !st) {
          r_.detail = st.error().message();
          log.line("gantry: " + r_.detail);
          continue;
        }
        r_.artifacts_dir = dest;
      }
      r_.status = cache::StageStatus::passed;
      break;
    }
  }

  // The attempt's JUnit reports (stage_tests.h): a problem with one is a
  // warning in the log, never the stage's failure.
  void read_tests(int attempt, const std::string& upper_dir, const executor::ContainerSpec& spec, StageLog& log) {
    auto tests = read_attempt_tests(stage_.junit_reports, attempt, upper_dir, spec.lowerdirs);
    for (const auto& w : tests.warnings) {
      const std::string line = "gantry: warning: " + ctx_.masker.mask(w);
      log.line(line);
      ctx_.reporter.output(task_, line);
    }
    const TestReport& rep = tests.report;
    const int failed = rep.count(TestStatus::failed) + rep.count(TestStatus::error);
    const std::string line = "gantry: tests: " + std::to_string(rep.cases.size()) + " run, " + std::to_string(failed) +
                             " failed, " + std::to_string(rep.count(TestStatus::skipped)) + " skipped";
    log.line(line);
    ctx_.reporter.output(task_, line);
    tests_.attempts.push_back(std::move(tests));
  }

  // The final status (allow_failure noted), the stage-cache entry of a pass,
  // the record and the report.
  cache::StageResult finish() {
    r_.duration_ms = elapsed().count();
    if (!tests_.attempts.empty()) {
      tests_.run_id = ctx_.run_id;
      tests_.stage = stage_.name;
      tests_.key = key_;
      auto path = ctx_.store.paths().stage_tests(ctx_.run_id, pipeline::stage_file_name(stage_.name));
      if (auto st = save_stage_tests(path, tests_); !st)
        ctx_.reporter.note("warning: stage " + stage_.name + ": keeping its test results: " + st.error().message());
    }
    if (r_.status != cache::StageStatus::passed && cancelled_by_newer_) {
      r_.status = cache::StageStatus::cancelled;
    } else if (r_.status != cache::StageStatus::passed) {
      r_.status = cache::StageStatus::failed;
      if (stage_.allow_failure) r_.detail += r_.detail.empty() ? "failure allowed" : " (failure allowed)";
    } else if (use_cache_) {
      cache::CachedStage c;
      c.key = key_;
      c.record = record_json_.dump();
      c.run_id = ctx_.run_id;
      c.stage = stage_.name;
      c.exit_code = r_.exit_code;
      c.duration_ms = r_.duration_ms;
      c.log_path = r_.log_path;
      c.artifacts_dir = r_.artifacts_dir;
      if (auto st = runs_.put_cached_stage(c); !st) ctx_.reporter.note("warning: " + st.error().message());
    }
    record(ctx_, r_);
    ctx_.reporter.task(task_, state_of(r_), elapsed(), r_.detail);
    return r_;
  }

  RunContext& ctx_;
  const pipeline::StageDef& stage_;
  const TaskId task_;
  cache::Metadata& runs_ = ctx_.store.metadata();
  cache::StageResult r_;
  const Clock& clock_ = ctx_.store.clock();  // durations and times (common/clock.h)
  const Clock::Steady started_ = clock_.steady_now();
  std::optional<WorkspaceView> view_;
  std::vector<executor::BindMount> need_mounts_;  // the needs' artifacts
  std::optional<CacheMounts> caches_;              // locked for the container's life
  std::unique_ptr<StageServices> services_;        // stopped when the stage ends (every path)
  StageTests tests_;                               // its JUnit reports, per attempt
  std::atomic<bool> superseded_hit_{false};        // stopped because a newer run came
  bool cancelled_by_newer_ = false;
  std::stop_source stage_stop_;                    // container_stop()
  std::optional<std::stop_callback<std::function<void()>>> on_run_stop_, on_superseded_;
  bool use_cache_ = false;
  nlohmann::json record_json_;
  std::string key_;
};

}  // namespace

cache::StageResult run_stage(RunContext& ctx, const pipeline::StageDef& stage) { return StageRun(ctx, stage).run(); }

}  // namespace gantry::runner
