// /api/v1/runs: the run list, a run, queueing, cancel and retry.
#include <charconv>

#include "cache/image_store.h"  // before store.h: Store holds a unique_ptr<ImageStore>
#include "cache/run_queue.h"
#include "cache/metadata.h"
#include "server/server_core.h"
#include "server/views.h"

namespace gantry::server {

namespace {

// A queued run that has no run record: the record's shape, as far as known.
nlohmann::json queued_record_json(const cache::QueueEntry& e) {
  auto s = summary_json(summary_of(e));
  s["pipeline_file"] = nullptr;
  s["retry_of"] = e.retry_of.empty() ? nlohmann::json() : nlohmann::json(e.retry_of);
  s["images"] = nlohmann::json::array();
  s["stages"] = nlohmann::json::array();
  s["promotions"] = nlohmann::json::array();
  return s;
}

Reply list_runs(ServerCore& core, const Request& req) {
  cache::RunPageQuery q;
  q.project = req.arg("project");
  q.status = req.arg("status");
  q.before = req.arg("before");
  if (auto limit = req.arg("limit"); !limit.empty()) {
    auto [end, ec] = std::from_chars(limit.data(), limit.data() + limit.size(), q.limit);
    if (ec != std::errc() || end != limit.data() + limit.size() || q.limit < 1 || q.limit > 500)
      return error_response(400, "bad request", "limit: expected a number from 1 to 500, got '" + limit + "'");
  }
  cache::RunQueue queue(core.store);
  // The same page again while nothing changed: every change the server makes
  // publishes an event; every change another process (a run) commits moves
  // meta.db's data_version.
  const std::string key = q.project + '\n' + q.status + '\n' + q.before + '\n' + std::to_string(q.limit);
  auto version = queue.data_version();
  if (!version) return error_response(version.error());
  const std::int64_t event_id = core.events.last_id();
  {
    std::lock_guard lock(core.page_mutex);
    if (auto it = core.pages.find(key);
        it != core.pages.end() && it->second.data_version == *version && it->second.event_id == event_id) {
      Response cached;
      cached.body = it->second.body;
      return cached;
    }
  }
  auto page = queue.page(q);
  if (!page) return error_response(page.error());
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& r : *page) runs.push_back(summary_json(r));
  nlohmann::json next = page->size() == static_cast<std::size_t>(q.limit) ? nlohmann::json(page->back().id) : nullptr;
  Response r = json_response(200, {{"runs", std::move(runs)}, {"next_before", std::move(next)}});
  std::lock_guard lock(core.page_mutex);
  if (core.pages.size() >= 256) core.pages.clear();
  core.pages[key] = {*version, event_id, r.body};
  return r;
}

Reply get_run(ServerCore& core, const Request& req) {
  const std::string& id = req.params.at("id");
  cache::Metadata& runs = core.store.metadata();
  auto run = runs.find_run(id);
  if (run) {
    auto doc = core.backend.run_json(*run);
    if (!doc) return error_response(doc.error());
    return json_response(200, *doc);
  }
  if (run.error().kind() != ErrorKind::not_found) return error_response(run.error());
  cache::RunQueue queue(core.store);
  auto entry = queue.get(id);
  if (!entry) return error_response(entry.error());
  if (!*entry) return error_response(404, "not found", "run " + id + " not found");
  return json_response(200, queued_record_json(**entry));
}

Reply run_graph(ServerCore& core, const Request& req) {
  cache::Metadata& runs = core.store.metadata();
  auto run = runs.find_run(req.params.at("id"));
  if (!run) return error_response(run.error());
  auto graph = core.backend.pipeline_graph(*run);
  if (!graph) return error_response(graph.error());
  return json_response(200, *graph);
}

Reply run_tests(ServerCore& core, const Request& req) {
  auto doc = core.backend.run_tests(req.params.at("id"));
  if (!doc) return error_response(doc.error());
  return json_response(200, *doc);
}

Reply flaky_tests(ServerCore& core, const Request& req) {
  int runs = 100;
  if (auto limit = req.arg("limit"); !limit.empty()) {
    auto [end, ec] = std::from_chars(limit.data(), limit.data() + limit.size(), runs);
    if (ec != std::errc() || end != limit.data() + limit.size() || runs < 1 || runs > 1000)
      return error_response(400, "bad request", "limit: expected a number from 1 to 1000, got '" + limit + "'");
  }
  auto doc = core.backend.flaky_tests(req.arg("project"), runs);
  if (!doc) return error_response(doc.error());
  return json_response(200, *doc);
}

Reply queue_run(ServerCore& core, const Request& req) {
  auto body = json_body(req);
  if (!body) return error_response(body.error());
  auto repo_name = string_member(*body, "repo");
  auto project = string_member(*body, "project");
  auto rev = string_member(*body, "rev");
  for (auto* r : {&repo_name, &project, &rev})
    if (!*r) return error_response(r->error());
  if (repo_name->empty() && project->empty())
    return error_response(400, "bad request", "give \"repo\" (a configured repository's name) or \"project\"");
  const std::string name = repo_name->empty() ? *project : *repo_name;
  const RepoConfig* repo = core.repo_named(name);
  if (!repo && !project->empty()) {
    // A project the store knows: the repository its newest run came from, if configured.
    cache::Metadata& runs = core.store.metadata();
    if (auto newest = runs.list_runs({.project = *project, .limit = 1, .with_details = false});
        newest && !newest->empty())
      for (const auto& r : core.config.repos)
        if (r.location == newest->front().repo || r.location == newest->front().repo_url) repo = &r;
  }
  if (!repo) return error_response(404, "not found", "no configured repository '" + name + "' (--repo)");
  cache::QueueEntry entry;
  entry.repo_name = repo->name;
  entry.repo = repo->location;
  entry.rev = rev->empty() ? "HEAD" : *rev;
  entry.branch = entry.rev.starts_with("refs/heads/") ? entry.rev.substr(11) : "";
  entry.project = *project;
  entry.source = "api";
  if (auto st = core.supervisor.enqueue(entry); !st) return error_response(st.error());
  auto r = json_response(202, {{"id", entry.id}, {"status", "queued"}, {"url", "/api/v1/runs/" + entry.id}});
  r.headers.emplace_back("Location", "/api/v1/runs/" + entry.id);
  return r;
}

Reply cancel_run(ServerCore& core, const Request& req) {
  const std::string& id = req.params.at("id");
  auto result = core.supervisor.cancel(id);
  if (!result) return error_response(result.error());
  return json_response(*result == "cancelled" ? 200 : 202, {{"id", id}, {"status", *result}});
}

Reply retry_run(ServerCore& core, const Request& req) {
  cache::Metadata& runs = core.store.metadata();
  auto run = runs.find_run(req.params.at("id"));
  if (!run) return error_response(run.error());
  if (run->status == cache::RunStatus::running)
    return error_response(409, "conflict", "run " + run->id + " is still running; retry it once it has ended");
  cache::QueueEntry entry;
  entry.kind = "retry";
  entry.retry_of = run->id;
  entry.repo_name = run->project;
  entry.repo = run->repo;
  entry.rev = run->commit;
  entry.commit = run->commit;
  entry.project = run->project;
  entry.source = "retry";
  cache::RunQueue queue(core.store);
  if (auto old = queue.get(run->id); old && *old) {
    entry.repo_name = (*old)->repo_name;
    entry.branch = (*old)->branch;
    entry.subject = (*old)->subject;
  }
  if (auto st = core.supervisor.enqueue(entry); !st) return error_response(st.error());
  auto r = json_response(202, {{"id", entry.id}, {"status", "queued"}, {"retry_of", run->id},
                               {"url", "/api/v1/runs/" + entry.id}});
  r.headers.emplace_back("Location", "/api/v1/runs/" + entry.id);
  return r;
}

}  // namespace

const RepoConfig* ServerCore::repo_named(const std::string& name) const {
  for (const auto& r : config.repos)
    if (r.name == name) return &r;
  return nullptr;
}

Result<nlohmann::json> json_body(const Request& req) {
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(req.body.empty() ? std::string("{}") : req.body);
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorKind::invalid_input, std::string("the body is not JSON: ") + e.what());
  }
  if (!body.is_object()) return fail(ErrorKind::invalid_input, "the body must be a JSON object");
  return body;
}

Result<std::string> string_member(const nlohmann::json& body, const std::string& key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::string();
  if (!it->is_string()) return fail(ErrorKind::invalid_input, "\"" + key + "\" must be a string");
  return it->get<std::string>();
}

void add_run_routes(Router& router, ServerCore& core) {
  router.add("GET", "/api/v1/runs", Access::read, [&core](Request& r) { return list_runs(core, r); });
  router.add("POST", "/api/v1/runs", Access::write, [&core](Request& r) { return queue_run(core, r); });
  router.add("GET", "/api/v1/runs/{id}", Access::read, [&core](Request& r) { return get_run(core, r); });
  router.add("GET", "/api/v1/runs/{id}/graph", Access::read, [&core](Request& r) { return run_graph(core, r); });
  router.add("GET", "/api/v1/runs/{id}/tests", Access::read, [&core](Request& r) { return run_tests(core, r); });
  router.add("GET", "/api/v1/tests/flaky", Access::read, [&core](Request& r) { return flaky_tests(core, r); });
  router.add("POST", "/api/v1/runs/{id}/cancel", Access::write, [&core](Request& r) { return cancel_run(core, r); });
  router.add("POST", "/api/v1/runs/{id}/retry", Access::write, [&core](Request& r) { return retry_run(core, r); });
}

}  // namespace gantry::server
