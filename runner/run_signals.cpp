#include "runner/run_signals.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace gantry::runner {

namespace {

std::atomic<int> g_write_fd{-1};
struct sigaction g_old_int {}, g_old_term {}, g_old_usr1 {};
std::stop_source g_superseded;
std::atomic<bool> g_disarmed{false};

void on_signal(int sig) {
  int fd = g_write_fd.load();
  if (fd >= 0) {
    char c = static_cast<char>(sig);
    [[maybe_unused]] ssize_t n = ::write(fd, &c, 1);
  }
}

}  // namespace

InterruptGuard::InterruptGuard() {
  if (::pipe2(pipe_, O_CLOEXEC) != 0) return;
  g_write_fd = pipe_[1];
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &g_old_int);
  ::sigaction(SIGTERM, &sa, &g_old_term);
  ::sigaction(SIGUSR1, &sa, &g_old_usr1);
  waiter_ = std::thread([this] {
    char c;
    while (true) {
      ssize_t n = ::read(pipe_[0], &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || c == 0) return;  // closed, or the guard is going away
      if (c == static_cast<char>(SIGUSR1)) {
        if (!g_disarmed) g_superseded.request_stop();
        continue;
      }
      source_.request_stop();
    }
  });
}

InterruptGuard::~InterruptGuard() {
  if (pipe_[1] < 0) return;
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::sigaction(SIGTERM, &g_old_term, nullptr);
  ::sigaction(SIGUSR1, &g_old_usr1, nullptr);
  g_write_fd = -1;
  char zero = 0;
  [[maybe_unused]] ssize_t n = ::write(pipe_[1], &zero, 1);
  if (waiter_.joinable()) waiter_.join();
  ::close(pipe_[0]);
  ::close(pipe_[1]);
}

std::stop_token superseded_token() { return g_superseded.get_token(); }
bool superseded() { return !g_disarmed && g_superseded.stop_requested(); }
void disarm_supersession() { g_disarmed = true; }

}  // namespace gantry::runner
