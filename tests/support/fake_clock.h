// A Clock (common/clock.h) that stands still until the test moves it: set()
// the wall time, advance() both the wall and the monotonic time. Thread-safe.
#pragma once

#include <atomic>

#include "common/clock.h"

namespace gantry::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t now_ms = 1767323045000)  // 2026-01-02 03:04:05 UTC
      : now_ms_(now_ms) {}
  std::int64_t now_ms() const override { return now_ms_.load(); }
  Steady steady_now() const override { return Steady(std::chrono::milliseconds(steady_ms_.load())); }

  void set(std::int64_t now_ms) { now_ms_ = now_ms; }
  void advance(std::chrono::milliseconds by) {
    now_ms_ += by.count();
    steady_ms_ += by.count();
  }

 private:
  std::atomic<std::int64_t> now_ms_;
  std::atomic<std::int64_t> steady_ms_{1000000};
};

}  // namespace gantry::testing
