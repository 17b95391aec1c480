// Sleeping that a stop request cuts short (a worker's idle wait, a poll
// interval): returns at once when `stop` is requested, else after `duration`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace gantry {

// True when the whole duration passed, false when `stop` cut it short.
inline bool sleep_unless_stopped(std::stop_token stop, std::chrono::milliseconds duration) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  return !cv.wait_for(lock, stop, duration, [] { return false; }) && !stop.stop_requested();
}

}  // namespace gantry
