// What every route of `gantry serve` shares (private to server/): the store,
// the backend, the event hub, the run supervisor and the configuration.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>

#include <nlohmann/json.hpp>

#include "cache/store.h"
#include "server/backend.h"
#include "server/event_hub.h"
#include "server/http.h"
#include "server/outbox.h"
#include "server/router.h"
#include "server/run_supervisor.h"
#include "server/serve_config.h"

namespace gantry::server {

class HttpServer;

struct ServerCore {
  const ServeConfig& config;
  cache::Store& store;
  Backend& backend;
  EventHub& events;
  RunSupervisor& supervisor;
  HttpServer* http = nullptr;
  Outbox* outbox = nullptr;    // notifications and commit statuses (nullptr: none configured)
  std::string webhook_secret;  // "" = webhooks refused
  std::stop_source stop;       // asked when the grace period is over (in-process promotions)
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  // GET /api/v1/runs answers by query string, valid while nothing changed:
  // {query -> (meta.db data_version, last event id, body)}.
  struct CachedPage {
    std::int64_t data_version = -1;
    std::int64_t event_id = -1;
    std::string body;
  };
  std::mutex page_mutex;
  std::map<std::string, CachedPage> pages;

  // The configured repository called `name`, or nullptr.
  const RepoConfig* repo_named(const std::string& name) const;
};

// The body as a JSON object; invalid_input (400) when it is not one.
Result<nlohmann::json> json_body(const Request& req);
// A string member of a JSON object ("" when absent); invalid_input when it is not a string.
Result<std::string> string_member(const nlohmann::json& body, const std::string& key);

// The route groups (one file each).
void add_run_routes(Router& router, ServerCore& core);          // api_runs.cpp, api_logs.cpp
void add_log_routes(Router& router, ServerCore& core);          // api_logs.cpp
void add_environment_routes(Router& router, ServerCore& core);  // api_environments.cpp
void add_status_routes(Router& router, ServerCore& core);       // api_status.cpp: healthz, metrics, events
void add_webhook_routes(Router& router, ServerCore& core);      // webhooks.cpp
void add_dashboard_routes(Router& router);                      // dashboard.cpp

}  // namespace gantry::server
