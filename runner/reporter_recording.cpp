#include "runner/reporter_recording.h"

namespace gantry::runner {

void RecordingReporter::phase(std::string_view title) {
  std::lock_guard lock(mutex_);
  events_.push_back({ReportedEvent::Kind::phase, {}, {}, {}, std::string(title)});
}

void RecordingReporter::task(const TaskId& id, TaskState state, std::chrono::milliseconds elapsed,
                             std::string_view detail) {
  std::lock_guard lock(mutex_);
  events_.push_back({ReportedEvent::Kind::task, id, state, elapsed, std::string(detail)});
}

void RecordingReporter::output(const TaskId& id, std::string_view line) {
  std::lock_guard lock(mutex_);
  events_.push_back({ReportedEvent::Kind::output, id, {}, {}, std::string(line)});
}

void RecordingReporter::note(std::string_view message) {
  std::lock_guard lock(mutex_);
  events_.push_back({ReportedEvent::Kind::note, {}, {}, {}, std::string(message)});
}

void RecordingReporter::finish() {
  std::lock_guard lock(mutex_);
  events_.push_back({ReportedEvent::Kind::finish, {}, {}, {}, {}});
}

std::vector<ReportedEvent> RecordingReporter::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

TaskState RecordingReporter::last_state(const std::string& group, const std::string& name) const {
  std::lock_guard lock(mutex_);
  for (auto it = events_.rbegin(); it != events_.rend(); ++it)
    if (it->kind == ReportedEvent::Kind::task && it->id.group == group && it->id.name == name) return it->state;
  return TaskState::queued;
}

}  // namespace gantry::runner
