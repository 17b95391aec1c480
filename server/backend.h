// What the server needs from the orchestration above it (runner/ implements
// it in runner/serve_backend.cpp), so server/ depends only on cache/ and
// common/: the run record's JSON, environments, history, promote and
// rollback, the recovery of dead runs, and the command that runs a queued run.
#pragma once

#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/run_queue.h"
#include "cache/metadata.h"
#include "common/error.h"

namespace gantry::server {

struct PromoteRequest {
  std::string project;  // "" = inferred as `gantry promote` does
  std::string image;
  std::string environment;
  std::string run_id;   // "" = the run whose digest is in the environment before
};

struct RollbackRequest {
  std::string project;
  std::string image;
  std::string environment;
};

// A commit of a polled branch (branch_poll.h).
struct BranchCommit {
  std::string id;       // 40 hex
  std::string subject;  // its first line
};

// What a poll of a branch found (`gantry watch`'s rule, runner/run_watch.h):
// with no position yet, no commit and the branch's tip as `start`; else the
// commits after the position, oldest first.
struct BranchNews {
  std::optional<BranchCommit> start;
  std::vector<BranchCommit> commits;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // The record as `gantry run --json` prints it.
  virtual Result<nlohmann::json> run_json(const cache::RunRecord& run) = 0;
  // The run's pipeline as a graph: {"environments": [{"name", "manual"}],
  // "stages": [{"name", "environment", "needs": [...]}]} (file order).
  virtual Result<nlohmann::json> pipeline_graph(const cache::RunRecord& run) = 0;
  // {"project", "environments": [...as gantry env ls --json...]}; project ""
  // = the only project (invalid_input naming them when several).
  virtual Result<nlohmann::json> environments(const std::string& project) = 0;
  // As gantry history --json.
  virtual Result<nlohmann::json> history(const std::string& project, const std::string& image, int limit) = 0;
  // Runs the environment's stages on the run's digest and promotes it (the
  // run record as JSON). conflict: refused by the promotion rule.
  virtual Result<nlohmann::json> promote(const PromoteRequest& request, std::stop_token stop) = 0;
  // The rollback event as JSON.
  virtual Result<nlohmann::json> rollback(const RollbackRequest& request) = 0;
  // The test results of a run's stages, as `gantry tests RUN --json`.
  virtual Result<nlohmann::json> run_tests(const std::string& run_id) = 0;
  // The flaky tests of a project's newest `runs` runs, as `gantry tests
  // --flaky --json`; project "" = the only project.
  virtual Result<nlohmann::json> flaky_tests(const std::string& project, int runs) = 0;
  // Marks dead "running" runs interrupted and sweeps what they left.
  virtual Status recover_dead_runs() = 0;
  // The command (argv, argv[0] the binary) that runs a queued entry as the
  // run with the entry's id.
  virtual std::vector<std::string> run_command(const cache::QueueEntry& entry) = 0;
  // The news of `branch` of the repository at `location` (a path or URL as
  // --repo takes it; a URL's mirror is fetched) since `position`. Reads git
  // only: never the store's database.
  virtual Result<BranchNews> branch_news(const std::string& location, const std::string& branch,
                                         const std::optional<std::string>& position) = 0;
};

}  // namespace gantry::server
