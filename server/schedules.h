// Runs on a schedule (docs/serve.md, "Schedules"): each `schedules:` entry
// of serve.yml queues a run of its repository's branch at the slots of its
// cron expression (server/cron.h, UTC). A slot that comes while the
// schedule's previous run is still queued or running waits for it
// (if_running: wait, the default: one run follows when it ends, however many
// slots passed meanwhile) or is skipped (if_running: skip).
//
// Slots missed while the server was down run once at start-up, not once per
// missed slot: a schedule's runs are queue entries (source "schedule",
// delivery "NAME@SLOT", cache/run_queue.h), so the last slot fired survives
// restarts in meta.db; when a later slot has passed, one catch-up run is
// queued. A schedule that never fired has nothing to catch up: it starts
// with its next slot.
//
// Time is read from a Clock (common/clock.h): tests drive a FakeClock and
// see a slot fire within a tick (250 ms) of its time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "server/cron.h"
#include "server/serve_config.h"

namespace gantry::cache {
class Store;
}

namespace gantry::server {

// What the scheduler needs from the server (the run queue); tests fake it.
class ScheduleHost {
 public:
  virtual ~ScheduleHost() = default;
  // The slot (unix seconds) of the newest run this schedule queued; nullopt: never.
  virtual Result<std::optional<std::int64_t>> last_fired(const ScheduleConfig& schedule) = 0;
  // Whether a run this schedule queued is still queued or running.
  virtual Result<bool> active(const ScheduleConfig& schedule) = 0;
  // Queues a run of the schedule's branch for `slot`.
  virtual Status fire(const ScheduleConfig& schedule, std::int64_t slot, bool catch_up) = 0;
};

// The server's host: the run queue in meta.db, runs queued through `enqueue`.
class RunSupervisor;
std::unique_ptr<ScheduleHost> make_queue_schedule_host(const ServeConfig& config, cache::Store& store,
                                                       RunSupervisor& supervisor);

class Scheduler {
 public:
  // The schedules' cron expressions were checked when the config was read.
  Scheduler(const std::vector<ScheduleConfig>& schedules, ScheduleHost& host, const Clock& clock);
  ~Scheduler();

  // At start-up: a schedule whose latest slot is newer than the last one it
  // fired queues one run now. Then every schedule waits for its next slot.
  Status catch_up();
  // Queues what is due at the clock's time; returns how many runs it queued.
  int tick();
  // tick() on a thread, every `every` of real time, until stop().
  void start(std::chrono::milliseconds every = std::chrono::milliseconds(250));
  void stop();

 private:
  struct Entry {
    ScheduleConfig config;
    CronExpr cron;
    std::optional<std::int64_t> next;     // the next slot to fire
    std::optional<std::int64_t> waiting;  // a due slot waiting for the previous run (if_running: wait)
  };
  int due(Entry& e, std::int64_t slot, bool catch_up);

  ScheduleHost& host_;
  const Clock& clock_;
  std::vector<Entry> entries_;
  std::mutex mutex_;  // tick() vs the thread
  std::jthread thread_;
};

}  // namespace gantry::server
