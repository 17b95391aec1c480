// SIGINT/SIGTERM → a stop_token: the first signal asks the run to stop (each
// container gets SIGTERM, then is killed after its grace period); handlers
// are process-wide and restored when the guard dies. Private to runner/.
#pragma once

#include <stop_token>
#include <thread>

namespace gantry::runner {

class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  std::stop_token token() const { return source_.get_token(); }
  bool interrupted() const { return source_.stop_requested(); }

 private:
  std::stop_source source_;
  int pipe_[2] = {-1, -1};
  std::thread waiter_;
};

}  // namespace gantry::runner
