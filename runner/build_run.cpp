#include "runner/build_run.h"

#include <deque>

#include "cache/layer_unpacker.h"
#include "common/file_util.h"
#include "executor/container.h"
#include "runner/cache_mounts.h"
#include "runner/container_limits.h"
#include "runner/build_step.h"
#include "runner/log_file.h"

namespace gantry::runner {

namespace {

constexpr std::size_t kTailLines = 15;

// Removes a kept upper dir (the caller owns it once run() returns it).
struct UpperDirGuard {
  std::string path;
  ~UpperDirGuard() {
    if (!path.empty()) (void)remove_tree(path);
  }
};

std::string exit_description(const executor::ContainerResult& r) {
  if (r.timed_out) return "timed out";
  if (r.oom_killed) return "killed: out of memory";
  if (r.cancelled) return "cancelled";
  if (r.signal != 0) return "killed by signal " + std::to_string(r.signal);
  return "exit code " + std::to_string(r.exit_code);
}

}  // namespace

Result<cache::LayerDescriptor> run_build_step(cache::Store& store, const RunStepRequest& req, Reporter& reporter,
                                              BuildCounters& counters) {
  executor::ContainerSpec spec;
  for (const auto& layer : req.layers)
    spec.lowerdirs.push_back(TRY_CTX(cache::ensure_unpacked(store, layer), req.what + ": unpacking layer " +
                                                                               layer.digest.str()));
  std::optional<TempDir> empty_root;
  if (spec.lowerdirs.empty()) {  // FROM scratch: overlayfs needs one lowerdir
    empty_root = TRY(store.make_temp_dir("scratch-"));
    spec.lowerdirs.push_back(empty_root->path());
  }
  spec.argv = req.step.command();
  spec.env = env_lines(pipeline::step_env(req.state, req.step));
  spec.workdir = req.state.workdir.empty() ? "/" : req.state.workdir;
  spec.user = req.state.user;
  spec.network = req.step.network == pipeline::NetworkMode::host ? executor::NetworkMode::host
                                                                  : executor::NetworkMode::none;
  spec.keep_upper = true;
  spec.limits = container_limits(req.limits);
  // Not the session scratch dir (see stage_runner.cpp); the kept upper goes
  // there, so the session sweep removes it if this process dies.
  spec.work_root = store.paths().containers_dir();
  spec.kept_upper_dir = store.tmp_dir();
  if (!req.init_binary.empty()) spec.init_binary = req.init_binary;

  std::optional<LogFile> log;
  if (!req.log_path.empty()) log.emplace(TRY_CTX(LogFile::open(req.log_path), req.what + ": its log"));
  // Cache directories: bind mounts, so nothing written there reaches the
  // layer (only the mount point does, as an empty directory); not keyed.
  if (!req.step.caches.empty() && req.cache_project.empty())
    return fail(ErrorKind::internal, req.what + ": caches without a project");
  auto caches = TRY_CTX(acquire_cache_mounts(store, req.cache_project, req.step.caches,
                                             [&](const std::string& m) {
                                               reporter.output(req.task, "gantry: " + m);
                                               if (log) log->line("gantry: " + m);
                                             }),
                        req.what);
  spec.mounts.insert(spec.mounts.end(), caches.mounts.begin(), caches.mounts.end());
  std::deque<std::string> tail;
  spec.output = [&](executor::Stream, std::string_view line) {
    reporter.output(req.task, line);
    if (log) log->line(line);
    tail.emplace_back(line);
    if (tail.size() > kTailLines) tail.pop_front();
  };

  counters.containers_started++;
  auto result = req.launcher.run(spec, {});
  if (!result) {
    Error error = std::move(result).error().context(req.what + ": starting the container");
    if (log) log->line("gantry: " + error.message());
    return fail(std::move(error));
  }
  UpperDirGuard upper{result->upper_dir};

  if (result->exit_code != 0 || result->signal != 0 || result->timed_out || result->oom_killed ||
      result->cancelled) {
    std::string message = req.what + " failed: " + exit_description(*result);
    if (log) log->line("gantry: " + message);
    if (!tail.empty()) {
      message += "\n  last output:";
      for (const auto& line : tail) message += "\n    " + line;
    }
    return fail(ErrorKind::invalid_input, message);
  }
  if (result->upper_dir.empty()) return fail(ErrorKind::internal, req.what + ": the executor kept no upper dir");
  return TRY_CTX(cache::write_layer_from_upper(store, result->upper_dir, {.epoch = req.epoch}),
                 req.what + ": writing its layer");
}

}  // namespace gantry::runner
