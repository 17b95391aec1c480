// A Clock (common/clock.h) that stands still until the test moves it: set()
// the wall time, advance() both the wall and the monotonic time. sleep_for()
// advances both at once and is remembered (sleeps()). Thread-safe.
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

#include "common/clock.h"

namespace gantry::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t now_ms = 1767323045000)  // 2026-01-02 03:04:05 UTC
      : now_ms_(now_ms) {}
  std::int64_t now_ms() const override { return now_ms_.load(); }
  Steady steady_now() const override { return Steady(std::chrono::milliseconds(steady_ms_.load())); }

  void sleep_for(std::chrono::milliseconds duration) const override {
    {
      std::lock_guard lock(mutex_);
      sleeps_.push_back(duration);
    }
    now_ms_ += duration.count();
    steady_ms_ += duration.count();
  }

  void set(std::int64_t now_ms) { now_ms_ = now_ms; }
  void advance(std::chrono::milliseconds by) {
    now_ms_ += by.count();
    steady_ms_ += by.count();
  }
  // Every sleep_for() so far, in order.
  std::vector<std::chrono::milliseconds> sleeps() const {
    std::lock_guard lock(mutex_);
    return sleeps_;
  }

 private:
  mutable std::atomic<std::int64_t> now_ms_;
  mutable std::atomic<std::int64_t> steady_ms_{1000000};
  mutable std::mutex mutex_;
  mutable std::vector<std::chrono::milliseconds> sleeps_;
};

}  // namespace gantry::testing
