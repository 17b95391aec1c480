// GET / and /static/{file}: the dashboard, from the files embedded in the
// binary (web_assets.h). The files hold no data: every datum comes from the
// API, with the token the user gives (sent as a header, never a cookie).
#include "server/server_core.h"
#include "server/web_assets.h"

namespace gantry::server {

namespace {

Reply asset(const std::string& name) {
  const WebAsset* a = find_web_asset(name);
  if (!a) return error_response(404, "not found", "no file " + name);
  Response r;
  r.content_type = std::string(a->content_type);
  r.body = std::string(a->body);
  // Only this server's own files and API: no inline script, no third party.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  return r;
}

}  // namespace

void add_dashboard_routes(Router& router) {
  router.add("GET", "/", Access::open, [](Request&) { return asset("index.html"); });
  router.add("GET", "/static/{name}", Access::open, [](Request& r) { return asset(r.params.at("name")); });
}

}  // namespace gantry::server
