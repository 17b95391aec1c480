// A live `gantry serve` on 127.0.0.1 (a port the kernel picks) over the run
// fixture's store and repository, and a real HTTP client (libcurl) for it:
// plain requests, and event streams read line by line as they arrive.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/runner/run_fixture.h"

namespace gantry::testing {

struct HttpResult {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-case
  nlohmann::json json() const;
};

// One server-sent event as the client parsed it.
struct SseEvent {
  std::string type;  // "" = message
  std::string data;
  std::string id;
  std::chrono::steady_clock::time_point at;
};

// Reads an event stream on its own thread until stop() or the server ends it.
class SseReader {
 public:
  SseReader(const std::string& url, const std::string& token = {});
  ~SseReader();
  // Waits until pred holds for the events so far (true) or the timeout (false).
  bool wait_for(const std::function<bool(const std::vector<SseEvent>&)>& pred, std::chrono::milliseconds timeout);
  std::vector<SseEvent> events();
  bool ended() const { return ended_; }
  // Waits until the first bytes arrived (the server has taken the follower on).
  bool wait_connected(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  long status() const { return status_; }
  void stop();

 private:
  void feed(const char* data, std::size_t size);
  std::mutex mutex_;
  std::vector<SseEvent> events_;
  SseEvent current_;
  std::string buffer_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> ended_{false};
  std::atomic<bool> connected_{false};
  std::atomic<long> status_{0};
  std::thread thread_;
};

class ServeFixture : public RunFixture {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts gantry serve on the fixture's store with its repository as
  // "acme/app", a write token, a webhook secret and `extra` flags.
  void start_server(const std::vector<std::string>& extra = {});
  // SIGTERM; waits for the process; returns its exit code.
  int stop_server(std::chrono::seconds timeout = std::chrono::seconds(60));
  // SIGKILL, as a crash.
  void kill_server();

  HttpResult http(const std::string& method, const std::string& path, const std::string& body = {},
                  const std::vector<std::string>& headers = {});
  HttpResult get(const std::string& path) { return http("GET", path); }
  // With "Authorization: Bearer <token_>".
  HttpResult post(const std::string& path, const nlohmann::json& body);
  std::string url(const std::string& path) const { return base_url_ + path; }

  // Polls GET /api/v1/runs/ID until its status is one of `statuses`.
  nlohmann::json wait_run(const std::string& id, const std::vector<std::string>& statuses,
                          std::chrono::seconds timeout = std::chrono::seconds(120));
  std::string server_log();

  std::string token_ = "write-token-0123456789";
  std::string secret_ = "webhook-secret-abcdef";
  std::string token_file_, secret_file_;
  std::string listen_ = "127.0.0.1:0";
  std::string base_url_;
  pid_t server_pid_ = -1;
  std::string server_log_path_;
};

// "sha256=<hex hmac>" of body.
std::string github_signature(const std::string& secret, const std::string& body);

}  // namespace gantry::testing
