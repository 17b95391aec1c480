// Which runs are alive: a live run holds RunLock (an flock on runs/<id>/lock,
// store_paths.h) from before its row is written until its process ends. A run
// recorded "running" whose lock can be taken died (SIGKILL, OOM, power):
// mark_dead_runs_interrupted() records it "interrupted" through the metadata.
// (A fleet's agents replace the flock with a lease in the database: issue 17.)
#pragma once

#include <string>
#include <vector>

#include <cstdint>

#include "common/error.h"
#include "common/unique_fd.h"

namespace gantry::cache {

class Store;

// A fresh run id: "<yyyymmdd>-<hhmmss>-<4 hex>" (UTC at now_ms, the store's
// clock), sortable by start time.
std::string new_run_id(std::int64_t now_ms);

class RunLock {
 public:
  // Creates the run's dir and takes its lock; conflict when another live
  // process holds it ("run ID is still running (... holds ...)").
  static Result<RunLock> acquire(Store& store, const std::string& run_id);
  RunLock() = default;

 private:
  explicit RunLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// True while a process holds the run's lock.
Result<bool> run_is_live(Store& store, const std::string& run_id);

// Every "running" run whose lock is free becomes "interrupted"; with a
// shared record (Metadata::shared()) only the runs this store started
// (Metadata::interrupt_run), its lock held meanwhile so it cannot come back
// to life. Returns their ids.
Result<std::vector<std::string>> mark_dead_runs_interrupted(Store& store);

}  // namespace gantry::cache
