// One deploy at a time (`concurrency:` of an environment, docs/pipeline.md):
// the runs that want to run an environment's stages and promote into it take
// turns, first come first served. The queue is a file per project and
// environment under <store>/locks/environments/ (store_paths.h), one run id
// a line, changed only under its flock. A run holds its turn while it is
// among the first `slots` live runs of the queue; a run whose process died
// (its run lock is free, run_lock.h) is dropped from the queue by the next
// run that looks, so a crash never blocks an environment.
//
// (A fleet replaces the file with a row lock in the shared database: issue 17.)
#pragma once

#include <chrono>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "common/error.h"

namespace gantry::cache {

class Store;

class EnvironmentTurn {
 public:
  // Joins the queue (keeping its place if the run is in it already) and
  // waits for the run's turn. `on_wait` is called with the run ids ahead of
  // it whenever they change while it waits. Cancelled through `stop`: leaves
  // the queue, conflict "cancelled while waiting for ...".
  static Result<EnvironmentTurn> take(Store& store, const std::string& project, const std::string& environment,
                                      const std::string& run_id, int slots, std::stop_token stop,
                                      const std::function<void(const std::vector<std::string>&)>& on_wait,
                                      std::chrono::milliseconds poll = std::chrono::milliseconds(100));
  EnvironmentTurn(EnvironmentTurn&& other) noexcept;
  EnvironmentTurn& operator=(EnvironmentTurn&&) = delete;
  EnvironmentTurn(const EnvironmentTurn&) = delete;
  ~EnvironmentTurn();  // leaves the queue

 private:
  EnvironmentTurn(std::string path, std::string run_id) : path_(std::move(path)), run_id_(std::move(run_id)) {}
  std::string path_;
  std::string run_id_;  // "" once moved from
};

// The live runs queued for the environment, the holders first (for views).
Result<std::vector<std::string>> environment_queue(Store& store, const std::string& project,
                                                   const std::string& environment);

}  // namespace gantry::cache
