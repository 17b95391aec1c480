// /api/v1/environments, /history, /promote, /rollback.
#include <charconv>

#include "server/server_core.h"

namespace gantry::server {

namespace {

Reply environments(ServerCore& core, const Request& req) {
  auto doc = core.backend.environments(req.arg("project"));
  if (!doc) return error_response(doc.error());
  return json_response(200, *doc);
}

Reply history(ServerCore& core, const Request& req) {
  int limit = 20;
  if (auto text = req.arg("limit"); !text.empty()) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (ec != std::errc() || end != text.data() + text.size() || limit < 1 || limit > 1000)
      return error_response(400, "bad request", "limit: expected a number from 1 to 1000, got '" + text + "'");
  }
  auto doc = core.backend.history(req.arg("project"), req.arg("image"), limit);
  if (!doc) return error_response(doc.error());
  return json_response(200, *doc);
}

Reply promote(ServerCore& core, const Request& req) {
  auto body = json_body(req);
  if (!body) return error_response(body.error());
  PromoteRequest p;
  for (auto [key, out] : {std::pair{"project", &p.project}, {"image", &p.image}, {"to", &p.environment},
                          {"run", &p.run_id}}) {
    auto v = string_member(*body, key);
    if (!v) return error_response(v.error());
    *out = *v;
  }
  if (p.image.empty() || p.environment.empty())
    return error_response(400, "bad request", "give \"image\" and \"to\" (and \"project\", \"run\" when ambiguous)");
  // The environment's stages run first: minutes, off the network threads.
  return DeferredReply{[&core, p] {
    if (!p.run_id.empty()) core.supervisor.track(p.run_id);
    auto doc = core.backend.promote(p, core.stop.get_token());
    if (!p.run_id.empty()) core.supervisor.untrack(p.run_id);
    if (!doc) return error_response(doc.error());
    return json_response(200, *doc);
  }};
}

Reply rollback(ServerCore& core, const Request& req) {
  auto body = json_body(req);
  if (!body) return error_response(body.error());
  RollbackRequest r;
  for (auto [key, out] : {std::pair{"project", &r.project}, {"image", &r.image}, {"env", &r.environment}}) {
    auto v = string_member(*body, key);
    if (!v) return error_response(v.error());
    *out = *v;
  }
  if (r.image.empty() || r.environment.empty())
    return error_response(400, "bad request", "give \"image\" and \"env\" (and \"project\" when ambiguous)");
  return DeferredReply{[&core, r] {
    auto doc = core.backend.rollback(r);
    if (!doc) return error_response(doc.error());
    return json_response(200, *doc);
  }};
}

}  // namespace

void add_environment_routes(Router& router, ServerCore& core) {
  router.add("GET", "/api/v1/environments", Access::read, [&core](Request& r) { return environments(core, r); });
  router.add("GET", "/api/v1/history", Access::read, [&core](Request& r) { return history(core, r); });
  router.add("POST", "/api/v1/promote", Access::write, [&core](Request& r) { return promote(core, r); });
  router.add("POST", "/api/v1/rollback", Access::write, [&core](Request& r) { return rollback(core, r); });
}

}  // namespace gantry::server
