// `gantry run`, `gantry promote`, `gantry rollback`: one run builds the
// images of a commit, runs every stage in a fresh container, and promotes the
// same digests through the environments, stopping at a manual gate.
//
//   auto record = run_pipeline(store, {.repo = ".", .rev = "HEAD"}, *reporter);
//   // record->status: "passed" | "failed" | "waiting"
//
// The process running a run holds its RunLock (cache/run_lock.h) for the
// run's whole life; a run recorded "running" whose lock is free died with its
// process and is marked "interrupted" by the next command (run_lifecycle.h).
//
// Environments are taken in the file's order. For each: its stages run as a
// DAG (`needs`; up to `jobs` at once; fail fast); when all required ones
// passed, every promoted image of the run is promoted to it (an environment
// pointer + a promotion event, optional `export`). A manual gate stops the run
// as "waiting" before that environment's stages; `promote` carries it on.
// Promoted images: the images of the file that no other image of the file is
// `from` (when the file builds none: the store images its stages use).
#pragma once

#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/metadata.h"
#include "cache/run_lock.h"
#include "cache/store.h"
#include "runner/container_launcher.h"
#include "runner/reporter.h"
#include "runner/runner_config.h"

namespace gantry::runner {

struct RunOptions {
  std::string repo = ".";
  std::string rev = "HEAD";
  std::string file = ".gantry.yml";
  unsigned jobs = 0;  // 0 = the number of cores
  bool no_cache = false;
  std::string init_binary;  // gantry-init; "" = next to this program
  // The runner's configuration (--runner-config): where exports may go, where
  // pushes may go. The built-in default allows neither.
  RunnerConfig runner_config;
  std::string retry_of;  // gantry retry: the run this one retries (recorded)
  std::string run_id;    // "" = a new id; `gantry serve` passes the id it queued the run under
  std::string signing_key;  // --signing-key (run_attest.h: else $GANTRY_SIGNING_KEY, else the config's)
  // The branch the revision was taken from, when `rev` is a commit id (gantry
  // watch, retry): provenance records refs/heads/<branch> if the commit is on
  // it. "" = the branch `rev` names, if any.
  std::string branch;
  // Starts every container of the run (build steps and stages); tests put a
  // fake here (container_launcher.h).
  ContainerLauncher* launcher = &executor_launcher();
};

// Errors (nothing recorded): an unknown revision, a bad pipeline file, an
// unknown image, a missing secret. Once the run is recorded, failures
// (build, stages) come back as a record with status "failed" and `error`.
Result<cache::RunRecord> run_pipeline(cache::Store& store, const RunOptions& options, Reporter& reporter,
                                      std::stop_token stop = {});

struct PromoteOptions {
  std::string project;  // "" = inferred (pick_project): the only project with runs of IMAGE
  std::string image;
  std::string environment;
  std::string run_id;  // "" = the run that brought IMAGE's digest into the environment before
  unsigned jobs = 0;
  bool no_cache = false;
  std::string init_binary;  // gantry-init; "" = next to this program
  RunnerConfig runner_config;  // as RunOptions::runner_config
  std::string signing_key;     // as RunOptions::signing_key
  ContainerLauncher* launcher = &executor_launcher();  // as RunOptions::launcher
  // Non-empty (gantry promote --db URL without --local): the environment's
  // stages and promotions are queued for the fleet's agents and followed
  // (fleet_submit.h) instead of run here.
  std::string fleet_db;
};

// Runs the environment's stages on the run's digests (never rebuilding) and
// promotes, then carries on through the next automatic gates. Refuses
// (conflict, no state change) a digest that has not passed every earlier
// environment; not_found for an unknown run, image or environment.
Result<cache::RunRecord> promote_run(cache::Store& store, const PromoteOptions& options, Reporter& reporter,
                                     std::stop_token stop = {});

// gantry retry RUN: a new run of RUN's repository, commit and pipeline file
// (recording retry_of = RUN's id) in which the stages that passed are served
// from the stage cache and the others run again. not_found for an unknown
// run; conflict for a run still running (its lock is held).
Result<cache::RunRecord> retry_run(cache::Store& store, const std::string& run_id, RunOptions options,
                                   Reporter& reporter, std::stop_token stop = {});

struct RollbackOptions {
  std::string project;  // "" = inferred, as for PromoteOptions
  std::string image;
  std::string environment;
  RunnerConfig runner_config;  // as RunOptions::runner_config
};

// Moves IMAGE in ENV back to its previous digest (its own event). First, as
// a promotion would, it pushes that digest to the environment's `push:`
// target and writes its `export:` (as the pipeline of the run that set the
// current digest defines them); when either fails, the pointer stays.
Result<cache::PromotionEvent> rollback_environment(cache::Store& store, const RollbackOptions& options,
                                                   Reporter& reporter);

// The run record as JSON (docs/run.md):
// {"id", "status", "repo", "commit", "rev", "pipeline_file", "pipeline_digest",
//  "started", "finished", "waiting_environment", "error", "retry_of",
//  "images": [{"name", "digest", "built"}],
//  "stages": [{"name", "environment", "status", "cached", "cached_from",
//              "exit_code", "seconds", "attempts", "allow_failure", "detail", "log"}],
//  "promotions": [{"image", "environment", "digest", "previous_digest", "time"}]}
nlohmann::json run_record_json(const cache::RunRecord& run, const std::vector<cache::PromotionEvent>& promotions);
// The promotions a run made (oldest first) and its JSON in one go.
Result<nlohmann::json> load_run_json(cache::Store& store, const cache::RunRecord& run);

// Exit code of a run: 0 for passed and waiting, 1 for failed (or interrupted).
int run_exit_code(const cache::RunRecord& run);

}  // namespace gantry::runner
