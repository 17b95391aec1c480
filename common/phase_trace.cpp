#include "common/phase_trace.h"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace gantry::trace {
namespace {

struct Marks {
  std::mutex mu;
  std::vector<std::pair<std::string, std::int64_t>> marks;
};

Marks& marks() {
  static Marks m;
  return m;
}

}  // namespace

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("GANTRY_TRACE_PHASES");
    return v && *v && std::string_view(v) != "0";
  }();
  return on;
}

std::int64_t now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void phase(std::string_view name) {
  if (enabled()) phase_at(name, now_ns());
}

void phase_at(std::string_view name, std::int64_t realtime_ns) {
  if (!enabled()) return;
  auto& m = marks();
  std::lock_guard lock(m.mu);
  m.marks.emplace_back(std::string(name), realtime_ns);
}

void print() {
  if (!enabled()) return;
  auto& m = marks();
  std::lock_guard lock(m.mu);
  for (const auto& [name, ns] : m.marks) std::fprintf(stderr, "gantry-phase %s %lld\n", name.c_str(), static_cast<long long>(ns));
  m.marks.clear();
}

}  // namespace gantry::trace
