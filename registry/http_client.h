// The network seam of registry/ (docs/architecture.md, "Seams"): the
// registry client speaks HTTP only through a Transport, which opens
// HttpConnections. The real one is libcurl (curl_transport(), HttpClient):
// one reusable easy handle per HttpClient (connections stay alive between
// requests), bodies streamed from a file descriptor or memory, response
// bodies streamed into a callback, redirects on request, TLS verified with
// the system CAs plus an extra CA file. Tests put a scripted fake in its
// place (tests/support/fake_transport.h). A connection is not thread-safe:
// one per thread; a Transport is.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace gantry::registry {

struct HttpOptions {
  std::string ca_file;       // PEM bundle trusted in addition to the system CAs
  bool verify_tls = true;    // false only for an explicit --insecure-registry
  std::chrono::seconds connect_timeout{20};
  // A transfer that moves less than one byte per second for this long is aborted.
  std::chrono::seconds stall_timeout{60};
};

// Streams a chunk of a 2xx response body; an error aborts the transfer.
using BodySink = std::function<Status(std::string_view chunk)>;
// Called with the bytes moved so far (sent for uploads, received for downloads).
using ProgressFn = std::function<void(std::uint64_t done)>;

struct HttpRequest {
  std::string method = "GET";  // GET HEAD PUT POST PATCH DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // A request body: in memory, or `body_length` bytes of `body_fd` from `body_offset`.
  std::optional<std::string> body;
  int body_fd = -1;
  std::uint64_t body_offset = 0;
  std::uint64_t body_length = 0;
  BodySink sink;            // when set, a 2xx body goes here instead of HttpResponse::body
  ProgressFn progress;
  bool follow_redirects = false;
  std::size_t max_body = 8u << 20;  // cap on a collected body (error documents, manifests)
};

struct HttpResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased, last response only
  std::string body;       // collected body (non-2xx always; 2xx when no sink)
  std::string url;        // the effective URL after redirects
  // First header with this (case-insensitive) name.
  std::optional<std::string> header(std::string_view name) const;
  std::vector<std::string> all(std::string_view name) const;
  bool ok() const { return status >= 200 && status < 300; }
};

// One connection (keep-alive) to whatever host the requests name.
class HttpConnection {
 public:
  virtual ~HttpConnection() = default;
  // Performs the request. Transport failures (refused, TLS, reset, short
  // body) are io errors "METHOD URL: <reason>"; a sink's error is returned
  // as is. Any HTTP status is a successful Result: the caller judges it.
  virtual Result<HttpResponse> perform(const HttpRequest& request) = 0;
  // True when the last transport failure was a TLS handshake problem or a
  // plain-HTTP answer to a TLS hello (used for the loopback http fallback).
  virtual bool last_error_was_tls() const = 0;
  virtual bool last_error_was_connect() const = 0;
};

// Opens connections with these options; thread-safe.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual std::unique_ptr<HttpConnection> open(const HttpOptions& options) = 0;
};

// The libcurl transport (the default of RegistryOptions::transport).
Transport& curl_transport();

// The libcurl connection.
class HttpClient final : public HttpConnection {
 public:
  explicit HttpClient(HttpOptions options = {});
  ~HttpClient() override;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Result<HttpResponse> perform(const HttpRequest& request) override;
  bool last_error_was_tls() const override { return last_error_tls_; }
  bool last_error_was_connect() const override { return last_error_connect_; }

  const HttpOptions& options() const { return options_; }

 private:
  HttpOptions options_;
  void* curl_ = nullptr;  // CURL*
  bool last_error_tls_ = false;
  bool last_error_connect_ = false;
};

// "a b" -> "a%20b" for query values.
std::string url_escape(std::string_view text);

}  // namespace gantry::registry
