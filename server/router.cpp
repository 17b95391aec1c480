#include "server/router.h"

#include "server/auth.h"

namespace gantry::server {

namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

Response unauthorized(const std::string& why) {
  auto r = error_response(401, "unauthorized", why);
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"gantry\"");
  return r;
}

}  // namespace

std::optional<Response> Authorizer::check(Access access, const Request& req) const {
  if (access == Access::open || access == Access::webhook) return std::nullopt;
  const std::string token = bearer_token(req.header("authorization"));
  if (access == Access::read) {
    if (reads_open) return std::nullopt;
    if (token.empty()) return unauthorized("this server needs a bearer token for reads (Authorization: Bearer ...)");
    // Both comparisons always run: the time says nothing about which matched.
    const bool read_ok = equal_secret(token, read_token);
    const bool write_ok = equal_secret(token, write_token);
    if (read_ok || write_ok) return std::nullopt;
    return unauthorized("the bearer token is not valid");
  }
  if (write_token.empty()) return unauthorized("write routes are disabled: the server has no --token-file");
  if (token.empty()) return unauthorized("write routes need the bearer token (Authorization: Bearer ...)");
  if (!equal_secret(token, write_token)) return unauthorized("the bearer token is not valid");
  return std::nullopt;
}

void Router::add(const std::string& method, const std::string& pattern, Access access, Handler handler) {
  routes_.push_back({method, split_path(pattern), access, std::move(handler)});
}

Reply Router::dispatch(Request& req, const Authorizer& auth) const {
  const auto segments = split_path(req.path);
  std::string allowed;
  for (const auto& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> params;
    bool match = true;
    for (std::size_t i = 0; i < segments.size() && match; ++i) {
      const auto& want = route.segments[i];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}') params[want.substr(1, want.size() - 2)] = segments[i];
      else match = want == segments[i];
    }
    if (!match) continue;
    if (route.method != req.method && !(route.method == "GET" && req.method == "HEAD")) {
      allowed += (allowed.empty() ? "" : ", ") + route.method;
      continue;
    }
    if (auto refused = auth.check(route.access, req)) return *refused;
    req.params = std::move(params);
    return route.handler(req);
  }
  if (!allowed.empty()) {
    auto r = error_response(405, "method not allowed", req.method + " " + req.path + " (allowed: " + allowed + ")");
    r.headers.emplace_back("Allow", allowed);
    return r;
  }
  return error_response(404, "not found", "no route " + req.path);
}

}  // namespace gantry::server
