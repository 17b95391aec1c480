// /healthz, /metrics (Prometheus text format) and /api/v1/events.
#include <charconv>
#include <sstream>

#include "cache/image_store.h"  // before store.h: Store holds a unique_ptr<ImageStore>
#include "cache/run_queue.h"
#include "server/http_server.h"
#include "server/server_core.h"

namespace gantry::server {

namespace {

Reply healthz(ServerCore& core) {
  const auto up = std::chrono::duration<double>(std::chrono::steady_clock::now() - core.started).count();
  return json_response(200, {{"status", "ok"}, {"running", core.supervisor.running()}, {"uptime_seconds", up}});
}

Reply metrics(ServerCore& core) {
  cache::RunQueue queue(core.store);
  auto counts = queue.counts();
  if (!counts) return error_response(counts.error());
  std::ostringstream out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  };
  metric("gantry_runs", "gauge", "Runs in the store, by status.");
  for (auto status : {cache::RunStatus::running, cache::RunStatus::passed, cache::RunStatus::failed,
                      cache::RunStatus::waiting, cache::RunStatus::interrupted})
    counts->runs_by_status.try_emplace(std::string(to_string(status)), 0);
  for (const auto& [status, n] : counts->runs_by_status) out << "gantry_runs{status=\"" << status << "\"} " << n << "\n";
  metric("gantry_queue_depth", "gauge", "Runs queued and not started yet.");
  out << "gantry_queue_depth " << counts->queued << "\n";
  metric("gantry_runs_active", "gauge", "Runs this server is running now.");
  out << "gantry_runs_active " << core.supervisor.running() << "\n";
  metric("gantry_stage_seconds", "summary", "Time stages took in their run, by final status.");
  for (const auto& [status, v] : counts->stage_seconds) {
    out << "gantry_stage_seconds_sum{status=\"" << status << "\"} " << v.second << "\n";
    out << "gantry_stage_seconds_count{status=\"" << status << "\"} " << v.first << "\n";
  }
  metric("gantry_stage_cache_hits_total", "counter", "Stage results served from the stage cache.");
  out << "gantry_stage_cache_hits_total " << counts->stage_cache_hits << "\n";
  metric("gantry_stage_runs_total", "counter", "Stages that ran (passed or failed).");
  out << "gantry_stage_runs_total " << counts->stage_runs << "\n";
  metric("gantry_step_cache_hits_total", "counter", "Build steps served from the step cache.");
  out << "gantry_step_cache_hits_total " << counts->step_cache_hits << "\n";
  metric("gantry_step_runs_total", "counter", "Build steps that ran.");
  out << "gantry_step_runs_total " << counts->step_runs << "\n";
  metric("gantry_event_followers", "gauge", "Clients following /api/v1/events.");
  out << "gantry_event_followers " << core.events.followers() << "\n";
  if (core.http) {
    metric("gantry_http_responses_total", "counter", "HTTP responses sent, by status code.");
    for (const auto& [status, n] : core.http->status_counts())
      out << "gantry_http_responses_total{code=\"" << status << "\"} " << n << "\n";
    metric("gantry_http_streams", "gauge", "Open event streams (events and log follows).");
    out << "gantry_http_streams " << core.http->open_streams() << "\n";
  }
  if (core.outbox) {
    const OutboxCounters c = core.outbox->counters();
    metric("gantry_outgoing_total", "counter",
           "Outgoing notifications and commit statuses, by result (queued, sent, retried, failed, dropped, replaced).");
    for (const auto& [result, n] : {std::pair<const char*, std::uint64_t>{"queued", c.queued}, {"sent", c.sent},
                                    {"retried", c.retried}, {"failed", c.failed}, {"dropped", c.dropped},
                                    {"replaced", c.replaced}})
      out << "gantry_outgoing_total{result=\"" << result << "\"} " << n << "\n";
  }
  Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = out.str();
  return r;
}

Reply events(ServerCore& core, const Request& req) {
  std::int64_t last = 0;
  std::string from = req.header("last-event-id");
  if (from.empty()) from = req.arg("last_event_id");
  if (!from.empty()) {
    auto [end, ec] = std::from_chars(from.data(), from.data() + from.size(), last);
    if (ec != std::errc() || end != from.data() + from.size())
      return error_response(400, "bad request", "Last-Event-ID: expected a number");
  }
  return StreamReply{[&core, last](std::shared_ptr<SseStream> stream) {
    core.events.follow(stream, last);
    // A comment now and then: proxies and clients see the stream is alive.
    stream->every(std::chrono::seconds(15), [weak = std::weak_ptr<SseStream>(stream)] {
      auto s = weak.lock();
      return s && s->send(": ping\n\n");
    });
  }};
}

}  // namespace

void add_status_routes(Router& router, ServerCore& core) {
  router.add("GET", "/healthz", Access::open, [&core](Request&) { return healthz(core); });
  router.add("GET", "/metrics", Access::read, [&core](Request&) { return metrics(core); });
  router.add("GET", "/api/v1/events", Access::read, [&core](Request& r) { return events(core, r); });
}

}  // namespace gantry::server
