// A Reporter that keeps every event in memory, for tests (and for callers that
// want to inspect what was shown). Thread-safe like every Reporter.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "runner/reporter.h"

namespace gantry::runner {

struct ReportedEvent {
  enum class Kind { phase, task, output, note, finish } kind;
  TaskId id;                  // task and output
  TaskState state{};          // task
  std::chrono::milliseconds elapsed{};
  std::string text;           // phase title, detail, output line or note
};

class RecordingReporter final : public Reporter {
 public:
  void phase(std::string_view title) override;
  void task(const TaskId& id, TaskState state, std::chrono::milliseconds elapsed, std::string_view detail) override;
  void output(const TaskId& id, std::string_view line) override;
  void note(std::string_view message) override;
  void finish() override;

  std::vector<ReportedEvent> events() const;
  // The last state reported for a task, or nullopt-like queued if never seen.
  TaskState last_state(const std::string& group, const std::string& name) const;

 private:
  mutable std::mutex mutex_;
  std::vector<ReportedEvent> events_;
};

}  // namespace gantry::runner
