// The quiet reporter: prints nothing (for --json, whose record is printed at
// the end by the command itself).
#include "runner/reporter.h"

namespace gantry::runner {

namespace {

class QuietReporter final : public Reporter {
 public:
  void phase(std::string_view) override {}
  void task(const TaskId&, TaskState, std::chrono::milliseconds, std::string_view) override {}
  void output(const TaskId&, std::string_view) override {}
  void note(std::string_view) override {}
  void finish() override {}
};

}  // namespace

std::unique_ptr<Reporter> make_quiet_reporter() { return std::make_unique<QuietReporter>(); }

}  // namespace gantry::runner
