// What users see of a build or run, separate from spdlog (the runner's own
// diagnostics). Implementations: a live terminal view, plain timestamped lines
// for CI logs, a quiet one for --json, and a recording one for tests.
// Every method may be called from several threads at once (parallel images
// and stages): implementations serialise internally.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace gantry::runner {

// The states a step or stage goes through, as shown to users.
enum class TaskState { queued, running, cached, passed, failed, skipped, waiting };
std::string_view to_string(TaskState state);

// One line in the view: a build step ("app #3 run: make") or a stage ("unit").
struct TaskId {
  std::string group;  // image name for steps, environment name for stages
  std::string name;   // "#3 run: make" or the stage name
};

class Reporter {
 public:
  virtual ~Reporter() = default;

  // A phase header: "build", "test", "staging", "promote", ...
  virtual void phase(std::string_view title) = 0;
  // A task changes state; `detail` is a short note (cache key prefix, exit code, reason skipped).
  virtual void task(const TaskId& id, TaskState state, std::chrono::milliseconds elapsed,
                    std::string_view detail = {}) = 0;
  // One line of a task's output (already masked of secrets).
  virtual void output(const TaskId& id, std::string_view line) = 0;
  // A free-form notice: "promoted app sha256:… to staging".
  virtual void note(std::string_view message) = 0;
  // Called once at the end, so a live view can draw its final frame.
  virtual void finish() = 0;
};

// Plain lines ("12:00:01 [app] #3 run: make ... passed 1.2s") to stdout.
std::unique_ptr<Reporter> make_plain_reporter();
// A live view redrawn in place on a terminal (stdout is a TTY).
std::unique_ptr<Reporter> make_live_reporter();
// Nothing to stdout (for --json, which prints the result record at the end).
std::unique_ptr<Reporter> make_quiet_reporter();
// Picks live when stdout is a terminal, plain otherwise, quiet when json.
std::unique_ptr<Reporter> make_reporter(bool json);

}  // namespace gantry::runner
