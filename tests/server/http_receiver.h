// A small HTTP/1.1 server on 127.0.0.1 (a port the kernel picks) that tests
// start as the receiver of gantry's outgoing requests (notifications, a fake
// forge's commit-status API): it records every request (method, target,
// headers, body) and answers with the status `respond` picks for it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gantry::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;
  std::chrono::steady_clock::time_point at;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpReceiver {
 public:
  // `respond(request, index)`: the status to answer (index counts from 0); default 200.
  explicit HttpReceiver(std::function<int(const ReceivedRequest&, int)> respond = {});
  ~HttpReceiver();
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<ReceivedRequest> requests();
  // Waits until pred holds for the requests so far.
  bool wait_for(const std::function<bool(const std::vector<ReceivedRequest>&)>& pred, std::chrono::milliseconds timeout);

 private:
  void serve();
  void handle(int fd);
  std::function<int(const ReceivedRequest&, int)> respond_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<ReceivedRequest> requests_;
  std::thread thread_;
};

// A loopback URL where nothing listens (connections are refused).
std::string refusing_url();

// A socket that listens but never accepts or answers: connections hang
// until the client's timeout. Closed on destruction.
class BlackHole {
 public:
  BlackHole();
  ~BlackHole();
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace gantry::testing
