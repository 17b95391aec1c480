// The seam for time (docs/architecture.md, "Seams"): run ids, the start and
// end times recorded in meta.db, stage and step durations, cache entries'
// ages, the retention of `gantry store gc` and the registry client's retry
// backoff all read one Clock. The gantry
// binary uses system_clock(); tests pass a FakeClock
// (tests/support/fake_clock.h) they set and advance, so ids, times and
// durations are exact instead of "about now".
#pragma once

#include <chrono>
#include <cstdint>

namespace gantry {

class Clock {
 public:
  using Steady = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  // Wall time: unix milliseconds (UTC).
  virtual std::int64_t now_ms() const = 0;
  // Monotonic time, for durations: never jumps with the wall clock.
  virtual Steady steady_now() const = 0;
  // Waits (a backoff between retries); a fake clock advances instead.
  virtual void sleep_for(std::chrono::milliseconds duration) const = 0;

  std::int64_t now_seconds() const { return now_ms() / 1000; }
  // Milliseconds since `start` (a steady_now() of this clock).
  std::chrono::milliseconds since(Steady start) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(steady_now() - start);
  }
};

// The system's clocks (std::chrono::system_clock, steady_clock).
class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override;
  Steady steady_now() const override;
  void sleep_for(std::chrono::milliseconds duration) const override;
};

// The process's SystemClock (the default of every clock pointer).
const Clock& system_clock();

}  // namespace gantry
