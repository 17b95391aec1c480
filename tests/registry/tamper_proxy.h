// A loopback HTTP proxy for tests that damages one response: every request
// is forwarded to the upstream registry (one request per connection), and the
// body of a 200 answer to a GET whose path contains `match` has one byte
// flipped (Mode::flip) or is cut in half while keeping its Content-Length
// (Mode::truncate). Everything else passes through unchanged.
#pragma once

#include <atomic>
#include <string>
#include <thread>

namespace gantry::testing {

class TamperProxy {
 public:
  enum class Mode { flip, truncate };
  TamperProxy(int upstream_port, Mode mode, std::string match);
  ~TamperProxy();
  TamperProxy(const TamperProxy&) = delete;
  TamperProxy& operator=(const TamperProxy&) = delete;

  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  int tampered() const { return tampered_; }

 private:
  void serve();
  void handle(int client);
  int upstream_port_;
  Mode mode_;
  std::string match_;
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<int> tampered_{0};
  std::thread thread_;
};

}  // namespace gantry::testing
