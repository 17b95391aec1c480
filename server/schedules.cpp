#include "server/schedules.h"

#include "common/stop_sleep.h"

#include <spdlog/spdlog.h>

#include <charconv>

#include "cache/image_store.h"  // before store.h: Store holds a unique_ptr<ImageStore>
#include "cache/meta_db.h"
#include "cache/metadata_records.h"
#include "cache/run_queue.h"
#include "cache/store.h"
#include "server/run_supervisor.h"

namespace gantry::server {

namespace {

constexpr const char* kSource = "schedule";

std::shared_ptr<spdlog::logger> serve_log() {
  auto log = spdlog::get("serve");
  return log ? log : spdlog::default_logger();
}

std::string utc(std::int64_t slot) { return cache::format_time_utc(slot * 1000); }

class QueueScheduleHost : public ScheduleHost {
 public:
  QueueScheduleHost(const ServeConfig& config, cache::Store& store, RunSupervisor& supervisor)
      : config_(config), store_(store), supervisor_(supervisor) {}

  Result<std::optional<std::int64_t>> last_fired(const ScheduleConfig& s) override {
    std::lock_guard db(store_.db().mutex());
    cache::RunQueue queue(store_);
    auto last = TRY(queue.last_delivery(kSource, s.name + "@"));
    if (!last) return std::optional<std::int64_t>();
    const std::string slot = last->delivery.substr(s.name.size() + 1);
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(slot.data(), slot.data() + slot.size(), value);
    if (ec != std::errc() || end != slot.data() + slot.size()) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(value);
  }

  Result<bool> active(const ScheduleConfig& s) override {
    std::lock_guard db(store_.db().mutex());
    cache::RunQueue queue(store_);
    for (const char* state : {"queued", "running"})
      for (const auto& e : TRY(queue.in_state(state)))
        if (e.source == kSource && e.delivery.starts_with(s.name + "@")) return true;
    return false;
  }

  Status fire(const ScheduleConfig& s, std::int64_t slot, bool catch_up) override {
    const RepoConfig* repo = nullptr;
    for (const auto& r : config_.repos)
      if (r.name == s.repo) repo = &r;
    if (!repo) return fail(ErrorKind::not_found, "schedule '" + s.name + "': repository '" + s.repo + "' is not configured");
    cache::QueueEntry entry;
    entry.repo_name = repo->name;
    entry.repo = repo->location;
    entry.rev = s.branch;
    entry.branch = s.branch;
    entry.subject = "schedule " + s.name + (catch_up ? " (catch-up of " : " (") + utc(slot) + ")";
    entry.source = kSource;
    entry.delivery = s.name + "@" + std::to_string(slot);
    std::lock_guard db(store_.db().mutex());  // as an HTTP handler holds it around enqueue
    TRY(supervisor_.enqueue(entry));
    serve_log()->info("schedule {}: queued run {} for {}{}", s.name, entry.id, utc(slot), catch_up ? " (catch-up)" : "");
    return {};
  }

 private:
  const ServeConfig& config_;
  cache::Store& store_;
  RunSupervisor& supervisor_;
};

}  // namespace

std::unique_ptr<ScheduleHost> make_queue_schedule_host(const ServeConfig& config, cache::Store& store,
                                                       RunSupervisor& supervisor) {
  return std::make_unique<QueueScheduleHost>(config, store, supervisor);
}

Scheduler::Scheduler(const std::vector<ScheduleConfig>& schedules, ScheduleHost& host, const Clock& clock)
    : host_(host), clock_(clock) {
  for (const auto& s : schedules) {
    auto cron = CronExpr::parse(s.cron);
    if (!cron) {
      serve_log()->error("schedule {}: {}", s.name, cron.error().message());
      continue;
    }
    entries_.push_back({.config = s, .cron = std::move(*cron), .next = std::nullopt, .waiting = std::nullopt});
  }
}

Scheduler::~Scheduler() { stop(); }

Status Scheduler::catch_up() {
  std::lock_guard lock(mutex_);
  const std::int64_t now = clock_.now_seconds();
  for (auto& e : entries_) {
    e.next = e.cron.next_after(now);
    const auto last = TRY(host_.last_fired(e.config));
    const auto latest = e.cron.last_at_or_before(now);
    if (last && latest && *latest > *last) {
      serve_log()->info("schedule {}: the slot of {} was missed (last run for {}): one catch-up run", e.config.name,
                        utc(*latest), utc(*last));
      due(e, *latest, true);
    }
  }
  return {};
}

// A slot is due: queue it, or wait for the previous run, or skip it.
int Scheduler::due(Entry& e, std::int64_t slot, bool catch_up) {
  auto active = host_.active(e.config);
  if (!active) {
    serve_log()->error("schedule {}: {}", e.config.name, active.error().message());
    return 0;
  }
  if (*active) {
    if (e.config.skip_if_running) {
      serve_log()->info("schedule {}: slot {} skipped, its previous run is still going (if_running: skip)",
                        e.config.name, utc(slot));
    } else {
      if (!e.waiting)
        serve_log()->info("schedule {}: slot {} waits for its previous run (if_running: wait)", e.config.name, utc(slot));
      e.waiting = slot;  // later slots fold into one run
    }
    return 0;
  }
  e.waiting.reset();
  if (auto st = host_.fire(e.config, slot, catch_up); !st) {
    serve_log()->error("schedule {}: {}", e.config.name, st.error().message());
    return 0;
  }
  return 1;
}

int Scheduler::tick() {
  std::lock_guard lock(mutex_);
  const std::int64_t now = clock_.now_seconds();
  int fired = 0;
  for (auto& e : entries_) {
    if (!e.next) e.next = e.cron.next_after(now);
    if (e.next && now >= *e.next) {
      // The newest due slot: after a stall (a suspended machine), one run, not one per slot.
      const std::int64_t slot = e.cron.last_at_or_before(now).value_or(*e.next);
      e.next = e.cron.next_after(now);
      fired += due(e, slot, false);
    } else if (e.waiting) {
      fired += due(e, *e.waiting, false);
    }
  }
  return fired;
}

void Scheduler::start(std::chrono::milliseconds every) {
  if (entries_.empty()) return;
  thread_ = std::jthread([this, every](std::stop_token stop) {
    do tick();
    while (sleep_unless_stopped(stop, every));
  });
}

void Scheduler::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

}  // namespace gantry::server
