// Run records in meta.db: one row per `gantry run` (repo, commit, pipeline
// digest, status), the image digests it used, one row per stage result, the
// stage-result cache, and the position of each `gantry watch`.
//
// Tables (migrations "0100-runs", "0102-run-retry-of", in meta_schema.cpp):
//   runs(id, repo, rev, commit_id, pipeline_file, pipeline_digest, status,
//        waiting_environment, error, started_ms, finished_ms, retry_of)
//   run_images(run_id, image, digest, built)
//   stage_results(run_id, stage, environment, image, digest, status, cached,
//        cached_from, exit_code, duration_ms, attempts, allow_failure, detail,
//        cache_key, log_path, artifacts_dir, started_ms)
//   stage_cache(key, record, run_id, stage, exit_code, duration_ms, log_path,
//        artifacts_dir, created_ms)        only passed results are cached
//   watch_positions(repo, branch, commit_id, updated_ms)
// Migration "0102-run-details" adds runs.repo_url, stage_results.original_ms,
//   run_build_steps(run_id, image, step_index, kind, step, key, status, cached,
//        duration_ms, log_path, detail)
//   run_gates(run_id, environment, how, detail, time_ms)
// Migration "0104-projects" adds runs.project (docs/run.md, "Projects").
// Nothing here ever holds a secret value: callers store masked text only.
//
// A live run holds RunLock (an flock on runs/<id>/lock) from before its row is
// written until its process ends; mark_interrupted() turns every "running"
// run whose lock can be taken (its process died: SIGKILL, OOM, power) into
// "interrupted", with its unfinished stages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace gantry::cache {

class Store;

// Run statuses: "running", "passed", "failed", "waiting" (at a manual gate),
// "interrupted" (its process died before the run finished).
struct RunImage {
  std::string image;   // name in the pipeline file (or the store reference)
  std::string digest;  // manifest digest, sha256:<hex>
  bool built = true;   // built from the pipeline file (false: a store image)
};

// Stage statuses: "pending" (not started yet), "running", "passed", "failed",
// "skipped" (detail says why: "needs unit (failed)", "environment staging not
// reached", "waiting at manual gate production"), "interrupted" (the run's
// process died before it ended).
struct StageResult {
  std::string run_id;
  std::string stage;
  std::string environment;
  std::string image;
  std::string digest;
  std::string status;
  bool cached = false;
  std::string cached_from;   // run that produced the cached result
  int exit_code = -1;        // -1: never ran / killed before exit
  std::int64_t duration_ms = 0;  // the time this run spent on it (cached: the look-up)
  std::int64_t original_ms = 0;  // cached: the time it took in the run it came from
  int attempts = 0;
  bool allow_failure = false;
  std::string detail;        // "timed out", "oom", "needs build (failed)", ...
  std::string cache_key;     // sha256:<hex> ("" when caching is off)
  std::string log_path;
  std::string artifacts_dir; // "" when the stage declares none
  std::int64_t started_ms = 0;
};

// One build step of a run (`gantry run` builds before its stages).
struct BuildStepRecord {
  std::string image;
  int index = 0;            // 1-based
  std::string kind;         // run | copy | env | workdir | user
  std::string step;         // "run: make", "copy . /src"
  std::string key;          // sha256:<hex>
  std::string status;       // passed | failed
  bool cached = false;
  std::int64_t duration_ms = 0;
  std::string log_path;     // "" when nothing ran
  std::string detail;
};

// How a run passed a manual gate: "promoted" (gantry promote) or
// "already-there" (every promoted digest was already in the environment).
struct GateRecord {
  std::string environment;
  std::string how;
  std::string detail;
  std::int64_t time_ms = 0;
};

struct RunRecord {
  std::string id;
  std::string repo;      // absolute path of a local repository, or the URL
  std::string repo_url;  // the remote's URL ("" when none)
  std::string project;   // the pipeline's `project:`, else derived from repo_url / repo
  std::string rev;
  std::string commit;
  std::string pipeline_file;
  std::string pipeline_digest;
  std::string status = "running";
  std::string waiting_environment;  // the manual gate a waiting run stopped at
  std::string error;                // why the run failed before/after its stages
  std::string retry_of;             // the run this one retries (gantry retry), or ""
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
  std::vector<RunImage> images;
  std::vector<StageResult> stages;  // in the order they were recorded
  std::vector<BuildStepRecord> build_steps;  // per image, in step order
  std::vector<GateRecord> gates;  // manual gates passed, oldest first
  // Wall time of each phase of this invocation ("open", "build", "test",
  // "promote test", ...), in order. Not stored: filled by the runner only.
  std::vector<std::pair<std::string, std::int64_t>> phase_ms;
};

// A reusable stage result: the key's record is kept beside it for people.
struct CachedStage {
  std::string key;
  std::string record;  // JSON
  std::string run_id;
  std::string stage;
  int exit_code = 0;
  std::int64_t duration_ms = 0;
  std::string log_path;
  std::string artifacts_dir;
  std::int64_t created_ms = 0;
};

std::int64_t now_ms();

// The flock a live run holds on runs/<id>/lock (store_paths.h). Released
// when the object (or the process) dies.
class RunLock {
 public:
  // Creates the run's dir and takes its lock; conflict when another live
  // process holds it ("run ID is still running (pid of ...)").
  static Result<RunLock> acquire(Store& store, const std::string& run_id);
  RunLock() = default;

 private:
  explicit RunLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

class RunStore {
 public:
  explicit RunStore(Store& store) : store_(store) {}

  // A fresh id: "<yyyymmdd>-<hhmmss>-<4 hex>" (UTC), sortable by start time.
  static std::string new_id();

  // Inserts the run and its images (the id must be new).
  Status create(const RunRecord& run);
  Status set_images(const std::string& run_id, const std::vector<RunImage>& images);
  Status set_status(const std::string& run_id, const std::string& status, const std::string& waiting_environment,
                    const std::string& error, bool finished);
  // True while a process holds the run's lock (RunLock).
  Result<bool> is_live(const std::string& run_id);
  // Every "running" run whose lock is free becomes "interrupted" (finished
  // now, with an error saying so); its "running" stages become "interrupted"
  // ("the run was interrupted while it ran") and its "pending" ones
  // "interrupted" ("not started: the run was interrupted"). Returns their ids.
  Result<std::vector<std::string>> mark_interrupted();
  // Inserts or replaces the result of (run_id, stage).
  Status put_stage(const StageResult& result);

  Status put_build_step(const std::string& run_id, const BuildStepRecord& step);
  Status put_gate(const std::string& run_id, const GateRecord& gate);

  // By id or any unique part of it (a prefix such as "20261130-03", a
  // suffix such as "6908"); not_found, or invalid_input naming the
  // candidates when several runs match.
  Result<RunRecord> get(const std::string& id_or_part);
  // Newest first; `image` non-empty keeps only runs that used that image,
  // `project` non-empty only the runs of that project.
  Result<std::vector<RunRecord>> list(const std::string& image = {}, int limit = 50, const std::string& project = {});
  // The projects (sorted) that have runs or environment pointers (of `image`
  // when non-empty).
  Result<std::vector<std::string>> projects(const std::string& image = {});
  // The newest run of a project, without its stages (nullopt: none).
  Result<std::optional<RunRecord>> newest_of_project(const std::string& project);

  Result<std::optional<CachedStage>> find_cached(const std::string& key);
  Status put_cached(const CachedStage& entry);

  Result<std::optional<std::string>> watch_position(const std::string& repo, const std::string& branch);
  Status set_watch_position(const std::string& repo, const std::string& branch, const std::string& commit);

 private:
  Result<std::vector<StageResult>> stages_of(const std::string& run_id);
  Result<std::vector<RunImage>> images_of(const std::string& run_id);
  Status fill(RunRecord& run);
  Status insert_images(const std::string& run_id, const std::vector<RunImage>& images);
  Store& store_;
};

}  // namespace gantry::cache
