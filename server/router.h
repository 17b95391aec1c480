// Routes: METHOD + a path pattern ("/api/v1/runs/{id}/cancel") -> handler,
// with who may call it. Unknown paths are 404, a known path with another
// method 405, a missing or wrong token 401 (JSON errors, docs/serve.md).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "server/http.h"

namespace gantry::server {

enum class Access {
  open,     // the dashboard's files: no data
  read,     // open on a loopback listen address, else the read (or write) token
  write,    // the write token, always
  webhook,  // verified by the route itself (signature)
};

struct Authorizer {
  bool reads_open = true;   // the listen address is loopback
  std::string read_token;   // "" = none configured
  std::string write_token;  // "" = none configured: write routes refuse
  // nullopt when the request may go on; else the 401 to send.
  std::optional<Response> check(Access access, const Request& req) const;
};

class Router {
 public:
  using Handler = std::function<Reply(Request&)>;
  void add(const std::string& method, const std::string& pattern, Access access, Handler handler);
  Reply dispatch(Request& req, const Authorizer& auth) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // "{name}" captures one segment
    Access access;
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace gantry::server
