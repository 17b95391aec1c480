#include "common/fault_injection.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace gantry::fault {
namespace {

struct State {
  std::atomic<std::uint64_t> armed_at{0};  // 0: never fires
  std::atomic<std::uint64_t> seen{0};
  std::atomic<Mode> mode{Mode::error};
  std::mutex mutex;  // guards fired
  std::optional<std::string> fired;
};

State& state() {
  static State s;
  return s;
}

// GANTRY_FAULT_AT / GANTRY_FAULT_MODE, read once before the first point.
void arm_from_environment() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* at = std::getenv("GANTRY_FAULT_AT");
    if (!at || !*at) return;
    char* end = nullptr;
    unsigned long long n = std::strtoull(at, &end, 10);
    if (*end != '\0' || n == 0) {
      std::fprintf(stderr, "gantry: ignoring GANTRY_FAULT_AT=%s (not a positive number)\n", at);
      return;
    }
    const char* mode = std::getenv("GANTRY_FAULT_MODE");
    bool crash = mode && std::string_view(mode) == "crash";
    state().mode = crash ? Mode::crash : Mode::error;
    state().seen = 0;
    state().armed_at = n;
  });
}

}  // namespace

std::string_view op_name(Op op) {
  switch (op) {
    case Op::write: return "write";
    case Op::fsync: return "fsync";
    case Op::rename: return "rename";
    case Op::dir_fsync: return "fsync directory";
    case Op::db_commit: return "commit";
  }
  return "write";
}

Status point(Op op, std::string_view path) {
  arm_from_environment();
  State& s = state();
  std::uint64_t n = ++s.seen;
  if (n != s.armed_at.load()) return {};
  std::string what = std::string(op_name(op)) + " " + std::string(path);
  std::fprintf(stderr, "gantry: injected fault at point %llu: %s\n", static_cast<unsigned long long>(n),
               what.c_str());
  if (s.mode.load() == Mode::crash) {
    std::fflush(stderr);
    ::kill(::getpid(), SIGKILL);
    ::_exit(137);  // not reached
  }
  {
    std::lock_guard lock(s.mutex);
    s.fired = what;
  }
  return fail(sys_error(std::string(op_name(op)) + " (injected fault " + std::to_string(n) + ")", std::string(path),
                        EIO));
}

void arm(std::uint64_t n, Mode mode) {
  arm_from_environment();  // a later first point() must not re-arm from the environment
  State& s = state();
  s.armed_at = 0;
  s.mode = mode;
  {
    std::lock_guard lock(s.mutex);
    s.fired.reset();
  }
  s.seen = 0;
  s.armed_at = n;
}

void disarm() { arm(0); }

std::uint64_t points_seen() { return state().seen.load(); }

std::optional<std::string> fired() {
  std::lock_guard lock(state().mutex);
  return state().fired;
}

}  // namespace gantry::fault
