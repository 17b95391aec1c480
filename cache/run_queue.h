// The run queue of `gantry serve` in meta.db, and the light read model its
// API serves (a page of run summaries, the counts behind /metrics).
//
// A queue entry is a run someone asked for (webhook, API, retry): it waits
// "queued" in request order until the server starts it ("running"; its run
// record, when the run gets that far, has the entry's id), then ends "done",
// "cancelled" (before it started) or "interrupted" (the server stopped while
// it ran). A restarted server starts the "queued" entries again in order.
//
// Table (migration "0106-serve-queue", in meta_schema.cpp):
//   serve_queue(id, seq, kind, repo_name, repo, rev, branch, commit_id,
//     subject, project, retry_of, source, delivery, state, error,
//     requested_ms, started_ms, finished_ms, pid)
// `delivery` is the forge's delivery id ("" for API requests), unique per
// source: a redelivered webhook finds its entry.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace gantry::cache {

class Store;

struct QueueEntry {
  std::string id;         // the run's id (cache::new_run_id() format)
  std::int64_t seq = 0;   // request order (assigned by enqueue)
  std::string kind = "run";  // run | retry
  std::string repo_name;  // the server's name for the repository
  std::string repo;       // path or URL handed to `gantry run`
  std::string rev;        // what to run (a commit id for webhooks)
  std::string branch;     // "main" (webhooks), "" when unknown
  std::string commit;     // the commit id when known up front (webhooks)
  std::string subject;    // the commit's subject when known (webhooks)
  std::string project;    // the project, when known up front
  std::string retry_of;   // kind retry: the run retried
  std::string source;     // api | github | gitea | gitlab | retry
  std::string delivery;   // the forge's delivery id, or ""
  std::string state = "queued";  // queued | running | done | cancelled | interrupted
  std::string error;      // why it ended without a run record, or was interrupted
  std::int64_t requested_ms = 0;
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
  int pid = 0;            // the process running it (state running)
};

// One row of the run list: a run record's head, or a queue entry that has
// no run record (yet, or ever: cancelled, or failed before it was recorded).
struct RunSummary {
  std::string id;
  std::string status;  // a run's status, or "queued" / "cancelled" / "starting" / "failed"
  std::string project;
  std::string repo;
  std::string rev;
  std::string branch;
  std::string commit;
  std::string subject;
  std::string source;  // "" for runs started outside the server
  std::string error;
  std::string waiting_environment;
  std::int64_t started_ms = 0;  // the request time for queue entries
  std::int64_t finished_ms = 0;
};

struct RunPageQuery {
  std::string project;  // "" = every project
  std::string status;   // "" = every status
  std::string before;   // only ids that sort before this one ("" = the newest)
  int limit = 50;
};

// What /metrics reports, read in one go.
struct RunCounts {
  std::map<std::string, std::int64_t> runs_by_status;
  std::int64_t queued = 0;
  std::int64_t stage_cache_hits = 0;    // stage results served from the stage cache
  std::int64_t stage_runs = 0;          // stage results that ran
  std::int64_t step_cache_hits = 0;     // build steps served from the step cache
  std::int64_t step_runs = 0;           // build steps that ran
  // Per stage status: how many ended so, and their total seconds (this run's own).
  std::map<std::string, std::pair<std::int64_t, double>> stage_seconds;
};

// How a queue entry without a run record shows in the run list: "queued",
// "starting" (its process has not recorded the run yet), "cancelled",
// "failed" (it ended with an error before the run was recorded).
std::string queue_entry_status(const std::string& state, const std::string& error);

class RunQueue {
 public:
  explicit RunQueue(Store& store) : store_(store) {}

  // Inserts the entry (its seq assigned after every earlier one).
  Status enqueue(QueueEntry& entry);
  Result<std::optional<QueueEntry>> get(const std::string& id);
  // The entry a source's delivery id queued, if any.
  Result<std::optional<QueueEntry>> find_delivery(const std::string& source, const std::string& delivery);
  // The newest entry of `source` whose delivery id starts with `prefix`
  // (a schedule's runs: source "schedule", delivery "NAME@SLOT").
  Result<std::optional<QueueEntry>> last_delivery(const std::string& source, const std::string& prefix);
  // An entry of this repository and commit that is not cancelled, if any.
  Result<std::optional<QueueEntry>> find_commit(const std::string& repo_name, const std::string& commit);
  // Entries in `state`, in request order.
  Result<std::vector<QueueEntry>> in_state(const std::string& state);
  // queued -> running (with the pid), only if still queued; false otherwise.
  Result<bool> start(const std::string& id, int pid);
  // queued -> cancelled, only if still queued; false otherwise.
  Result<bool> cancel_queued(const std::string& id);
  // Ends an entry (done | interrupted) with an optional error.
  Status finish(const std::string& id, const std::string& state, const std::string& error);

  // Newest first: run records and queue entries without one, merged.
  Result<std::vector<RunSummary>> page(const RunPageQuery& query);
  Result<RunCounts> counts();
  // Changes whenever another connection (a `gantry run` process) has
  // committed to meta.db since (SQLite's PRAGMA data_version): a cache of
  // reads made on this connection is stale when it moved.
  Result<std::int64_t> data_version();

 private:
  Status enqueue_once(QueueEntry& entry);
  Store& store_;
};

}  // namespace gantry::cache
