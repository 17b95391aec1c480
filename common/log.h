// The runner's own diagnostics (spdlog), on stderr. Users see concise
// progress through the runner's Reporter; -v turns on debug, -vv trace.
#pragma once

namespace gantry::log {
void init(int verbosity);
}  // namespace gantry::log
