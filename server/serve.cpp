#include "server/serve.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include <boost/asio/ip/address.hpp>

#include "cache/meta_db.h"
#include "server/branch_poll.h"
#include "server/commit_status.h"
#include "server/http_server.h"
#include "server/notifier.h"
#include "server/schedules.h"
#include "server/serve_config_outgoing.h"
#include "server/server_core.h"

namespace gantry::server {

namespace {

bool is_loopback(const std::string& host) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

}  // namespace

Status serve(const ServeConfig& config, cache::Store& store, Backend& backend) {
  auto log = spdlog::get("serve");
  if (!log) {
    log = spdlog::stderr_logger_mt("serve");
    log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %v");
  }
  log->set_level(spdlog::level::info);
  const ListenAddress address = TRY(parse_listen(config.listen));
  Authorizer auth;
  auth.reads_open = is_loopback(address.host);
  if (!config.token_file.empty()) auth.write_token = TRY(read_secret_file(config.token_file, "--token-file"));
  if (!config.read_token_file.empty())
    auth.read_token = TRY(read_secret_file(config.read_token_file, "--read-token-file"));
  if (!auth.reads_open && auth.read_token.empty() && auth.write_token.empty())
    return fail(ErrorKind::usage, "--listen " + config.listen +
                                      " is not a loopback address: give --read-token-file (and --token-file) so "
                                      "reads are not open to the network");
  std::string webhook_secret;
  if (!config.webhook_secret_file.empty())
    webhook_secret = TRY(read_secret_file(config.webhook_secret_file, "--webhook-secret-file"));

  TRY(check_schedules(config));
  // Outgoing messages (notifications, commit statuses) outlive the event hub
  // that feeds them: declared first, destroyed last.
  std::unique_ptr<Outbox> outbox;
  std::unique_ptr<Notifier> notifier;
  std::unique_ptr<CommitStatusReporter> statuses;
  if (!config.notifications.empty() || !config.commit_status.empty()) {
    outbox = std::make_unique<Outbox>(config.outgoing);
    notifier = TRY(Notifier::make(config, *outbox, store.clock()));
    statuses = std::make_unique<CommitStatusReporter>(config, store.paths(), *outbox);
  }
  EventHub events;
  if (notifier) events.listen([&notifier](const std::string& type, const nlohmann::json& data) { notifier->on_event(type, data); });
  if (statuses) events.listen([&statuses](const std::string& type, const nlohmann::json& data) { statuses->on_event(type, data); });
  RunSupervisor supervisor(store, backend, events, config.max_runs);
  TRY_CTX(supervisor.recover(), "recovering the run queue");
  auto schedule_host = make_queue_schedule_host(config, store, supervisor);
  Scheduler scheduler(config.schedules, *schedule_host, store.clock());
  TRY_CTX(scheduler.catch_up(), "schedules: catching up missed slots");
  ServerCore core{.config = config, .store = store, .backend = backend, .events = events, .supervisor = supervisor};
  core.webhook_secret = std::move(webhook_secret);
  core.outbox = outbox.get();

  Router router;
  add_run_routes(router, core);
  add_log_routes(router, core);
  add_environment_routes(router, core);
  add_status_routes(router, core);
  add_webhook_routes(router, core);
  add_dashboard_routes(router);

  HttpServer http({.max_body = config.max_body, .timeout = config.client_timeout},
                  [&router, &auth, &store](Request& req) {
                    // One handler at a time on the shared meta.db connection: interleaved
                    // statements of two threads would keep a stale read snapshot open,
                    // and the supervisor's writes would fail SQLITE_BUSY.
                    std::lock_guard db(store.db().mutex());
                    return router.dispatch(req, auth);
                  });
  core.http = &http;
  TRY(http.listen(address));
  supervisor.start();
  scheduler.start();
  // The branches it polls itself (branch_poll.h), as webhooks would queue them.
  BranchPoller poller(config.repos, store, backend, supervisor);
  poller.start();
  const std::string host = address.host.find(':') != std::string::npos ? "[" + address.host + "]" : address.host;
  std::cerr << "gantry serve: listening on http://" << host << ":" << http.port() << std::endl;
  log->info("serving {} repositor{} (max {} run{} at once){}{}", config.repos.size(),
            config.repos.size() == 1 ? "y" : "ies", config.max_runs, config.max_runs == 1 ? "" : "s",
            auth.write_token.empty() ? "; write routes disabled (no --token-file)" : "",
            core.webhook_secret.empty() ? "; webhooks disabled (no --webhook-secret-file)" : "");

  std::atomic<bool> stopping{false};
  std::thread stopper;
  http.on_signal([&](int sig) {
    if (stopping.exchange(true)) return;
    log->info("{}: stopping; running runs get {} ms to finish", sig == SIGTERM ? "SIGTERM" : "SIGINT",
              config.grace.count());
    http.stop_accepting();
    stopper = std::thread([&] {
      scheduler.stop();
      poller.stop();  // queues nothing more
      supervisor.drain(config.grace);
      core.stop.request_stop();
      events.close_all();
      http.stop();
    });
  });
  http.run(2);
  if (stopper.joinable()) stopper.join();
  // The last runs' notifications and statuses get a moment to leave.
  if (outbox && !outbox->idle_within(std::chrono::seconds(5)))
    log->warn("stopping with outgoing messages unsent (see gantry_outgoing_total)");
  log->info("stopped");
  return {};
}

}  // namespace gantry::server
