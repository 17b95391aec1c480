// Phase timestamps for finding where the time of a command goes
// (ci/bench-phases): with GANTRY_TRACE_PHASES=1 in the environment, gantry
// records named marks (CLI start, store opened, clone, each setup step of the
// container's init, exec of the command, teardown, ...) and prints them to
// stderr at exit, one line each: "gantry-phase NAME REALTIME_NS". The clock is
// CLOCK_REALTIME so a launcher can put its own mark before the exec of gantry.
// Off (the default), a mark costs one load of a flag.
#pragma once

#include <cstdint>
#include <string_view>

namespace gantry::trace {

bool enabled();
std::int64_t now_ns();
// Records a mark now, or at a time taken elsewhere (the container's init). Thread-safe.
void phase(std::string_view name);
void phase_at(std::string_view name, std::int64_t realtime_ns);
// Prints and forgets the marks (main calls it before returning).
void print();

}  // namespace gantry::trace
