// The server's run queue at work: one thread starts queued runs in request
// order, up to max_runs at once, each as a child process running the same
// code as `gantry run` (Backend::run_command) under the queued id, with its
// own output in runs/<id>/serve.log. The child dies with the server
// (PR_SET_PDEATHSIG SIGKILL): a crashed server leaves its runs as a crashed
// `gantry run` does, and the next start marks them interrupted.
//
// The same thread watches the active runs in meta.db (every 150 ms) and
// publishes run, stage, queue and promotion changes on the EventHub.
//
// Shutdown (SIGTERM): drain() starts nothing new, lets running runs finish
// up to the grace period, then sends each child SIGTERM (it cancels its
// containers cleanly) and records those runs "interrupted". Queued runs stay
// queued for the next start.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "cache/run_queue.h"
#include "cache/metadata.h"
#include "cache/store.h"
#include "server/backend.h"
#include "server/event_hub.h"

namespace gantry::server {

class RunSupervisor {
 public:
  RunSupervisor(cache::Store& store, Backend& backend, EventHub& events, int max_runs);
  ~RunSupervisor();

  // After a restart, before start(): the entries the last server was running
  // end "interrupted" (their runs too, once their processes are gone); dead
  // runs are recovered; queued entries stay in order.
  Status recover();
  void start();

  // Queues the entry under a new id (entry.id set) and wakes the thread.
  // Runs of the same repository and branch that this server is running are
  // superseded (SIGUSR1: their `interruptible:` stages are cancelled,
  // runner/run_signals.h).
  Status enqueue(cache::QueueEntry& entry);
  // Queued: cancelled now ("cancelled"). Running here: SIGTERM to its
  // process ("cancelling"). not_found: no such run; conflict: it has ended or
  // this server does not run it.
  Result<std::string> cancel(const std::string& id);

  // Runs changed by in-process work (a promotion) are watched while it lasts.
  void track(const std::string& run_id);
  void untrack(const std::string& run_id);
  // The last state seen of a stage of a watched run (nullopt: not watched).
  std::optional<cache::StageResult> watched_stage(const std::string& run_id, const std::string& stage);

  std::size_t running();
  // Blocks: see the header comment. Then the thread ends.
  void drain(std::chrono::milliseconds grace);

 private:
  struct Child {
    cache::QueueEntry entry;
    bool cancel_requested = false;
    bool stopped_by_shutdown = false;
  };

  void loop(std::stop_token stop);
  void start_queued();
  Status spawn(cache::QueueEntry entry);
  void reap();
  void on_exit(Child child, int wait_status);
  void poll_changes();
  void publish_run(const std::string& id);
  void wake();
  void supersede_older(const cache::QueueEntry& newer);

  cache::Store& store_;
  Backend& backend_;
  EventHub& events_;
  const int max_runs_;

  std::mutex poll_mutex_;  // one poll_changes() at a time (last_poll_, last_promotion_)
  std::mutex mutex_;
  std::condition_variable cv_;
  bool woken_ = false;
  bool draining_ = false;
  std::map<int, Child> children_;  // pid -> child
  std::set<std::string> tracked_;
  std::map<std::string, cache::RunRecord> seen_;  // watched runs as last read
  std::int64_t last_promotion_ = 0;
  std::chrono::steady_clock::time_point last_poll_{};
  std::jthread thread_;
};

}  // namespace gantry::server
