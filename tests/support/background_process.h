// A process the test (or benchmark) starts and leaves running: argv executed
// directly (no shell), "K=V" entries added to its environment, stdout and
// stderr appended to a log file, killed with the test process
// (PR_SET_PDEATHSIG). The destructor stops it: SIGTERM, then SIGKILL after
// 20 s.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace gantry::testing {

class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                    const std::string& log_path);
  ~BackgroundProcess() { stop(); }
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::string log() const;

  // SIGKILL, as a host that is lost.
  void kill();
  // SIGTERM, then SIGKILL after 20 s; the exit status (-1 when killed).
  int stop();

 private:
  pid_t pid_ = -1;
  std::string log_;
};

}  // namespace gantry::testing
