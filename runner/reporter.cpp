// Reporter helpers shared by every implementation: state names and the
// factory that picks the live, plain or quiet view.
#include "runner/reporter.h"

#include <unistd.h>

#include <cstdlib>

namespace gantry::runner {

std::string_view to_string(TaskState state) {
  switch (state) {
    case TaskState::queued: return "queued";
    case TaskState::running: return "running";
    case TaskState::cached: return "cached";
    case TaskState::passed: return "passed";
    case TaskState::failed: return "failed";
    case TaskState::skipped: return "skipped";
    case TaskState::waiting: return "waiting";
  }
  return "unknown";
}

std::unique_ptr<Reporter> make_reporter(bool json) {
  if (json) return make_quiet_reporter();
  // TERM=dumb (emacs shells, some CI consoles) cannot redraw in place.
  const char* term = std::getenv("TERM");
  bool dumb = term == nullptr || std::string_view(term) == "dumb";
  if (::isatty(STDOUT_FILENO) && !dumb) return make_live_reporter();
  return make_plain_reporter();
}

}  // namespace gantry::runner
