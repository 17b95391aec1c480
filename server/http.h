// The server's own view of HTTP: a parsed request, a response, and the three
// ways a route can answer (private to server/). Boost.Beast stays inside
// http_server.cpp and sse_stream.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace gantry::server {

// A text/event-stream connection (implemented in http_server.cpp). Every
// method is thread-safe; work runs on the connection's strand.
class SseStream {
 public:
  virtual ~SseStream() = default;
  // Queues framed bytes (see sse_event); false once the stream is closed.
  virtual bool send(std::string framed) = 0;
  // Sends what is queued, then closes the connection.
  virtual void finish() = 0;
  virtual bool closed() const = 0;
  // Calls fn every `period` on the stream's strand until it returns false
  // or the stream closes.
  virtual void every(std::chrono::milliseconds period, std::function<bool()> fn) = 0;
  // Called once when the stream closes (the client went away, or finish()).
  virtual void on_close(std::function<void()> fn) = 0;
};

// "id: N\nevent: TYPE\ndata: DATA\n\n" (id left out when 0; DATA's lines
// each get their own "data:").
std::string sse_event(std::string_view type, std::string_view data, std::int64_t id = 0);

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // percent-decoded, without the query
  std::map<std::string, std::string> query;  // decoded
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;
  std::map<std::string, std::string> params;  // the route's {name} segments

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
  std::string arg(const std::string& name, const std::string& fallback = {}) const {
    auto it = query.find(name);
    return it == query.end() ? fallback : it->second;
  }
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A text/event-stream: the route gets the stream once its header is sent.
struct StreamReply {
  std::function<void(std::shared_ptr<SseStream>)> start;
};
// Work too long for the network thread (a promotion runs stages): run on a
// worker thread, its Response sent when it returns.
struct DeferredReply {
  std::function<Response()> work;
};
using Reply = std::variant<Response, StreamReply, DeferredReply>;

Response json_response(unsigned status, const nlohmann::json& body);
// {"error": "<short reason>", "detail": <detail>} with the status.
Response error_response(unsigned status, const std::string& error, const nlohmann::json& detail = nullptr);
// An Error as its status: invalid_input/usage 400, not_found 404, conflict
// 409, anything else 500 (its message is the detail).
Response error_response(const Error& error);

// plus_is_space: a query's '+' is a space; a path's is a '+'.
std::string percent_decode(std::string_view text, bool plus_is_space);
// "a=1&b=x%20y" -> {a: 1, b: "x y"}
std::map<std::string, std::string> parse_query(std::string_view query);

}  // namespace gantry::server
