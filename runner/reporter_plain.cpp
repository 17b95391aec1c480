// The plain reporter: one timestamped line per event, for CI logs and pipes.
//   21:04:05 == build ==
//   21:04:05 [app] #3 run: make ... passed 1.20s
//   21:04:06 [test/unit] | ok 3 tests
#include <time.h>

#include <cstdio>
#include <mutex>
#include <string>

#include "common/units.h"
#include "runner/reporter.h"

namespace gantry::runner {

namespace {

std::string clock_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm local{};
  ::localtime_r(&ts.tv_sec, &local);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", local.tm_hour, local.tm_min, local.tm_sec);
  return buf;
}

class PlainReporter final : public Reporter {
 public:
  void phase(std::string_view title) override { emit("== " + std::string(title) + " =="); }

  void task(const TaskId& id, TaskState state, std::chrono::milliseconds elapsed, std::string_view detail) override {
    std::string line = "[" + id.group + "] " + id.name + " ... " + std::string(to_string(state));
    bool finished = state != TaskState::queued && state != TaskState::running && state != TaskState::waiting;
    if (finished && state != TaskState::skipped) line += " " + format_duration(elapsed);
    if (!detail.empty()) line += " (" + std::string(detail) + ")";
    emit(line);
  }

  void output(const TaskId& id, std::string_view line) override {
    emit("[" + id.group + "/" + id.name + "] | " + std::string(line));
  }

  void note(std::string_view message) override { emit(std::string(message)); }

  void finish() override {
    std::lock_guard lock(mutex_);
    std::fflush(stdout);
  }

 private:
  void emit(const std::string& text) {
    std::lock_guard lock(mutex_);
    std::string line = clock_now() + " " + text + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  }
  std::mutex mutex_;
};

}  // namespace

std::unique_ptr<Reporter> make_plain_reporter() { return std::make_unique<PlainReporter>(); }

}  // namespace gantry::runner
