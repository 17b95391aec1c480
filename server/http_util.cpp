#include "server/http.h"

namespace gantry::server {

Response json_response(unsigned status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.body.push_back('\n');
  return r;
}

Response error_response(unsigned status, const std::string& error, const nlohmann::json& detail) {
  return json_response(status, {{"error", error}, {"detail", detail}});
}

Response error_response(const Error& error) {
  switch (error.kind()) {
    case ErrorKind::invalid_input:
    case ErrorKind::usage: return error_response(400, "bad request", error.message());
    case ErrorKind::not_found: return error_response(404, "not found", error.message());
    case ErrorKind::conflict: return error_response(409, "conflict", error.message());
    default: return error_response(500, "internal error", error.message());
  }
}

std::string sse_event(std::string_view type, std::string_view data, std::int64_t id) {
  std::string out;
  out.reserve(data.size() + type.size() + 32);
  if (id) out += "id: " + std::to_string(id) + "\n";
  if (!type.empty()) {
    out += "event: ";
    out += type;
    out += "\n";
  }
  std::size_t start = 0;
  while (true) {
    auto nl = data.find('\n', start);
    out += "data: ";
    out += data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    out += "\n";
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  out += "\n";
  return out;
}

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else if (text[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    out[percent_decode(pair.substr(0, eq), true)] =
        eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1), true);
  }
  return out;
}

}  // namespace gantry::server
