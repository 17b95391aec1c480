// The HTTP/1.1 server under `gantry serve` (Boost.Beast on Boost.Asio): one
// io_context run by a few threads, one strand per connection, keep-alive,
// request bodies over max_body refused with 413 before they are read, and a
// client that is slower than `timeout` to send a request is answered 408 and
// dropped. An access line per request goes to the "serve" logger: peer,
// method, path (never the query or a header), status, bytes, milliseconds.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "common/error.h"
#include "server/http.h"
#include "server/serve_config.h"

namespace gantry::server {

struct HttpLimits {
  std::uint64_t max_body = 1 << 20;
  std::chrono::milliseconds timeout{30000};
};

class HttpServer {
 public:
  using Dispatch = std::function<Reply(Request&)>;
  HttpServer(HttpLimits limits, Dispatch dispatch);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens (an error names the address: in use, not local, ...).
  Status listen(const ListenAddress& address);
  unsigned short port() const;
  // Calls fn (on a network thread) when SIGTERM or SIGINT arrives.
  void on_signal(std::function<void(int)> fn);
  // Runs the network threads; returns after stop().
  void run(int threads);
  // Stops accepting connections (open ones carry on).
  void stop_accepting();
  // Ends every connection and makes run() return.
  void stop();

  // Responses sent, by status (for /metrics).
  std::map<unsigned, std::uint64_t> status_counts() const;
  std::size_t open_streams() const { return streams_.load(); }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::atomic<std::size_t> streams_{0};
};

}  // namespace gantry::server
