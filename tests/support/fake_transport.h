// A Transport (registry/http_client.h) that answers from a script instead of
// the network: the test says what METHOD URL answers, in turn (a status with
// headers and a body, a broken connection, a body cut after N bytes), and
// reads back every request the client sent (method, URL, headers, body).
// A request nothing was scripted for gets a registry-style 404. Thread-safe.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "registry/http_client.h"

namespace gantry::testing {

struct FakeReply {
  long status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // A transport failure instead of an answer (the io error's reason).
  std::optional<std::string> broken;
  bool tls = false;      // ... a TLS one (last_error_was_tls)
  bool connect = false;  // ... a refused connection (last_error_was_connect)
  // The connection breaks after this many bytes of the body (sent after
  // the status and headers): a truncated body.
  std::optional<std::size_t> cut_after;

  static FakeReply ok(std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
    return {.status = 200, .headers = std::move(headers), .body = std::move(body)};
  }
  static FakeReply status_only(long status, std::vector<std::pair<std::string, std::string>> headers = {}) {
    return {.status = status, .headers = std::move(headers)};
  }
  static FakeReply connection_reset() { return {.broken = "Connection reset by peer"}; }
};

struct RecordedRequest {
  std::string method, url;
  std::vector<std::string> headers;  // "Name: value", as sent
  std::string body;
  // The value of the first header with this (case-insensitive) name.
  std::optional<std::string> header(std::string_view name) const;
};

class FakeTransport final : public registry::Transport {
 public:
  // METHOD URL answers `replies` in turn; the last one repeats. `url` is
  // matched against the whole URL, or against the URL without its query.
  void on(const std::string& method, const std::string& url, std::vector<FakeReply> replies);
  // Every request so far, in order; those to METHOD URL (same matching).
  std::vector<RecordedRequest> requests() const;
  std::vector<RecordedRequest> requests(const std::string& method, const std::string& url) const;
  std::size_t connections_opened() const;

  std::unique_ptr<registry::HttpConnection> open(const registry::HttpOptions& options) override;

 private:
  class Connection;
  struct Route {
    std::vector<FakeReply> replies;
    std::size_t next = 0;
  };
  FakeReply answer(const RecordedRequest& request);
  static bool matches(const std::string& key_url, const std::string& url);

  mutable std::mutex mutex_;
  std::map<std::string, Route> routes_;  // "METHOD URL"
  std::vector<RecordedRequest> log_;
  std::size_t opened_ = 0;
};

}  // namespace gantry::testing
