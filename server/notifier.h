// Outgoing notifications (docs/serve.md, "Notifications"): on run finished,
// stage failed, promotion and rollback, a JSON POST to each configured URL
// that wants the event, signed like GitHub's webhooks:
//   X-Gantry-Event: run_finished | stage_failed | promotion | rollback | promotion_refused
//   X-Gantry-Delivery: <32 hex digits, unique per message>
//   X-Gantry-Signature-256: sha256=<hex HMAC-SHA256 of the body, keyed by the URL's secret_file>
//   {"event", "delivery", "time", "url" (the run's dashboard page),
//    "run": {...a run-list row...} | "stage": {...} | "promotion": {...}}
// It listens to the EventHub and hands messages to the Outbox: it never
// blocks a run or a request, and a dead receiver costs a queue slot, no more.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/error.h"
#include "server/outbox.h"
#include "server/serve_config.h"

namespace gantry::server {

// "https://ci.example.org/#/run/ID" (public_url "" = no link).
std::string run_page_url(const std::string& public_url, const std::string& run_id);

class Notifier {
 public:
  // Reads each target's secret file (refused when others may read it).
  static Result<std::unique_ptr<Notifier>> make(const ServeConfig& config, Outbox& outbox, const Clock& clock);

  // An EventHub listener.
  void on_event(const std::string& type, const nlohmann::json& data);

 private:
  struct Target {
    std::string url;
    std::string secret;
    std::set<std::string> events;  // empty: all
  };
  Notifier(std::string public_url, std::vector<Target> targets, Outbox& outbox, const Clock& clock)
      : public_url_(std::move(public_url)), targets_(std::move(targets)), outbox_(outbox), clock_(clock) {}
  void send(const std::string& event, nlohmann::json body);
  bool first_time(const std::string& key);

  const std::string public_url_;
  const std::vector<Target> targets_;
  Outbox& outbox_;
  const Clock& clock_;
  std::mutex mutex_;
  std::set<std::string> seen_;  // "run ID STATUS" already notified (bounded by seen_order_)
  std::deque<std::string> seen_order_;
};

}  // namespace gantry::server
