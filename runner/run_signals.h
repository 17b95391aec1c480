// SIGINT/SIGTERM → a stop_token: the first signal asks the run to stop (each
// container gets SIGTERM, then is killed after its grace period); handlers
// are process-wide and restored when the guard dies. Private to runner/.
//
// SIGUSR1 → the run is superseded: `gantry serve` queued a newer run of the
// same repository and branch. Only the stages that are `interruptible:`
// (docs/pipeline.md) stop, running or not started yet; every other stage goes
// on. From the run's first promotion on (disarm_supersession()) nothing is
// interrupted any more: a promotion or a deploy is never cancelled.
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

// Requested once SIGUSR1 came while a guard was installed and before
// disarm_supersession().
std::stop_token superseded_token();
bool superseded();
void disarm_supersession();

}  // namespace gantry::runner
