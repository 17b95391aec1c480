#include "server/notifier.h"

#include <openssl/rand.h>

#include "cache/metadata_records.h"
#include "server/auth.h"

namespace gantry::server {

namespace {

constexpr std::size_t kRemembered = 10000;

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) raw.assign(bytes, 0);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool finished(const std::string& status) {
  return status == "passed" || status == "failed" || status == "cancelled" || status == "interrupted" ||
         status == "waiting";
}

}  // namespace

std::string run_page_url(const std::string& public_url, const std::string& run_id) {
  if (public_url.empty() || run_id.empty()) return {};
  std::string base = public_url;
  while (base.ends_with("/")) base.pop_back();
  return base + "/#/run/" + run_id;
}

Result<std::unique_ptr<Notifier>> Notifier::make(const ServeConfig& config, Outbox& outbox, const Clock& clock) {
  std::vector<Target> targets;
  for (const auto& t : config.notifications) {
    Target target{.url = t.url, .secret = TRY(read_secret_file(t.secret_file, "notifications: secret_file")),
                  .events = {t.events.begin(), t.events.end()}};
    targets.push_back(std::move(target));
  }
  return std::unique_ptr<Notifier>(new Notifier(config.public_url, std::move(targets), outbox, clock));
}

bool Notifier::first_time(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (!seen_.insert(key).second) return false;
  seen_order_.push_back(key);
  if (seen_order_.size() > kRemembered) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  return true;
}

void Notifier::on_event(const std::string& type, const nlohmann::json& data) {
  if (targets_.empty()) return;
  if (type == "run") {
    const std::string status = str(data, "status");
    if (!finished(status) || !first_time("run " + str(data, "id") + " " + status)) return;
    send("run_finished", {{"run", data}, {"url", run_page_url(public_url_, str(data, "id"))}});
  } else if (type == "stage") {
    if (str(data, "status") != to_string(cache::StageStatus::failed)) return;
    if (!first_time("stage " + str(data, "run") + " " + str(data, "stage") + " failed")) return;
    send("stage_failed", {{"stage", data}, {"url", run_page_url(public_url_, str(data, "run"))}});
  } else if (type == "promotion") {
    // A refused promotion moved nothing: its own event, never a "promotion".
    const std::string kind = str(data, "kind");
    const std::string event = kind == to_string(cache::PromotionKind::rollback)  ? "rollback"
                              : kind == to_string(cache::PromotionKind::refused) ? "promotion_refused"
                                                                                 : "promotion";
    send(event, {{"promotion", data}, {"url", run_page_url(public_url_, str(data, "run"))}});
  }
}

void Notifier::send(const std::string& event, nlohmann::json body) {
  for (const auto& t : targets_) {
    if (!t.events.empty() && !t.events.contains(event)) continue;
    const std::string delivery = random_hex(16);
    body["event"] = event;
    body["delivery"] = delivery;
    body["time"] = cache::format_time_utc(clock_.now_ms());
    std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    OutgoingMessage m{.kind = "notification " + event,
                      .url = t.url,
                      .headers = {"Content-Type: application/json", "X-Gantry-Event: " + event,
                                  "X-Gantry-Delivery: " + delivery,
                                  "X-Gantry-Signature-256: sha256=" + hmac_sha256_hex(t.secret, text)},
                      .body = std::move(text),
                      .coalesce = {}};
    outbox_.push(std::move(m));
  }
}

}  // namespace gantry::server
