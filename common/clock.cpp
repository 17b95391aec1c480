#include "common/clock.h"

#include <thread>

namespace gantry {

std::int64_t SystemClock::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Clock::Steady SystemClock::steady_now() const { return std::chrono::steady_clock::now(); }

void SystemClock::sleep_for(std::chrono::milliseconds duration) const { std::this_thread::sleep_for(duration); }

const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}

}  // namespace gantry
