// Metadata: everything gantry records about its work, behind one interface
// whose queries are named by what they mean (never SQL): runs and their stage
// results, the stage cache, environment pointers and promotions, the build
// step cache, and `gantry watch` positions. The store's files (blobs, unpacked
// layers, tags, logs) are not here: they stay in the local store.
//
// Implementations:
//   SqliteMetadata (sqlite_metadata.h)  meta.db of one store; the default
//   (issue 17)                           PostgreSQL, shared by a fleet
// Both must pass tests/cache/metadata_test.cpp's contract.
//
// Guarantees every implementation keeps:
// - every call is atomic: a run's row and its images, a promotion's event and
//   the pointer it moves, commit together or not at all;
// - moving a pointer is a compare-and-swap: a PointerMove naming the digest it
//   expects fails with ErrorKind::conflict, changing nothing, when another
//   process moved the pointer since; two processes can never both move one
//   pointer from the same digest;
// - a promotion's rule (`must_have_passed`) is checked inside the same
//   transaction: a refused promotion changes nothing;
// - a stage-cache or step-cache key is written once (first writer wins for
//   steps; the last passed result for stages).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cache/metadata_records.h"
#include "cache/step_cache.h"
#include "common/digest.h"
#include "common/error.h"

namespace gantry::cache {

// Which runs list_runs() returns: newest first (started, then id), filters
// optional ("" = any), a page of `limit` after skipping `offset`.
struct RunFilter {
  std::string project;
  std::string image;   // runs that used this image (name in the pipeline)
  std::string status;  // "running", "passed", "failed", "waiting", "interrupted"
  int limit = 50;
  int offset = 0;
  bool with_details = true;  // false: the run rows alone (no stages, images, steps, gates)
};

// Which promotion events promotion_history() returns: newest first.
struct PromotionFilter {
  std::string project;
  std::string image;
  std::string environment;
  std::string run_id;
  int limit = 100;
};

// A run that gc's retention rule weighs (store_maintenance.h).
struct RunAge {
  std::string id;
  std::int64_t started_ms = 0;
  bool in_use = false;  // running or waiting, named by a pointer, or serving a stage-cache entry
};

class Metadata {
 public:
  virtual ~Metadata() = default;

  // True when gantry processes on other hosts write the same record
  // (PostgreSQL): a "running" run this store never started belongs to
  // another host, whose liveness this host cannot see (run_lock.h).
  virtual bool shared() const { return false; }

  // ---- runs ---------------------------------------------------------------
  // Inserts the run and its images (the id must be new).
  virtual Status create_run(const RunRecord& run) = 0;
  virtual Status set_run_images(const std::string& run_id, const std::vector<RunImage>& images) = 0;
  // finished: the finish time becomes now (else 0).
  virtual Status set_run_status(const std::string& run_id, RunStatus status,
                                const std::string& waiting_environment, const std::string& error, bool finished) = 0;
  // Inserts or replaces the result of (run_id, stage); a replaced result keeps
  // its place (a run lists its stages in the order they were first recorded).
  virtual Status record_stage(const StageResult& result) = 0;
  virtual Status record_build_step(const std::string& run_id, const BuildStepRecord& step) = 0;
  virtual Status record_gate(const std::string& run_id, const GateRecord& gate) = 0;

  // One run with its images, stages, build steps and gates, by id or any
  // unique part of it (a prefix such as "20261130-03", a suffix such as
  // "6908"); not_found, or invalid_input naming the candidates when several
  // runs match.
  virtual Result<RunRecord> find_run(const std::string& id_or_part) = 0;
  // Whether a run with exactly this id exists.
  virtual Result<bool> has_run(const std::string& run_id) = 0;
  virtual Result<std::vector<RunRecord>> list_runs(const RunFilter& filter) = 0;
  // The projects (sorted) that have runs or environment pointers (of `image`
  // when non-empty).
  virtual Result<std::vector<std::string>> projects(const std::string& image = {}) = 0;

  // The ids of runs recorded "running" (some may be dead: run_lock.h).
  virtual Result<std::vector<std::string>> running_runs() = 0;
  // A "running" run becomes "interrupted" (finished now, `error`), its running
  // stages "interrupted" ("the run was interrupted while it ran") and its
  // pending ones too ("not started: the run was interrupted"), in one
  // transaction. False (nothing changed) when the run is not "running".
  virtual Result<bool> interrupt_run(const std::string& run_id, const std::string& error) = 0;

  // Every run, newest first, for gc's retention rule; delete_runs() removes
  // runs' own records (promotion events stay: they are the audit trail).
  virtual Result<std::vector<RunAge>> runs_by_age() = 0;
  virtual Status delete_runs(const std::vector<std::string>& run_ids) = 0;

  // ---- stage cache: reusable passed stage results ---------------------------
  virtual Result<std::optional<CachedStage>> find_cached_stage(const std::string& key) = 0;
  virtual Status put_cached_stage(const CachedStage& entry) = 0;

  // ---- gantry watch ----------------------------------------------------------
  virtual Result<std::optional<std::string>> watch_position(const std::string& repo, const std::string& branch) = 0;
  virtual Status set_watch_position(const std::string& repo, const std::string& branch, const std::string& commit) = 0;

  // ---- environments and promotions -------------------------------------------
  virtual Result<std::optional<EnvironmentPointer>> environment_pointer(const std::string& project,
                                                                        const std::string& image,
                                                                        const std::string& environment) = 0;
  // Every pointer (of one project / image when non-empty), by project, image,
  // then the order environments were first promoted to.
  virtual Result<std::vector<EnvironmentPointer>> environment_pointers(const std::string& project,
                                                                       const std::string& image = {}) = 0;
  // Records a refused promotion of move.digest (a rule named in `reason`
  // failed): a "refused" event in the history that moves no pointer. The rule
  // (`must_have_passed`, was_promoted) and rollback never count it.
  virtual Result<PromotionEvent> refuse(const PointerMove& move, const std::string& reason) = 0;
  // Moves the pointer and records a "promote" event, in one transaction.
  // nullopt (nothing recorded) when the pointer already holds the digest;
  // conflict when the pointer is not at move.expected_digest, or the digest
  // has not passed an environment of move.must_have_passed.
  virtual Result<std::optional<PromotionEvent>> promote(const PointerMove& move) = 0;
  // Moves the pointer back to its previous digest, recorded as a "rollback"
  // event carrying the commit and run that first brought that digest:
  // not_found without a pointer, conflict without a previous digest or when
  // `expected_digest` is given and the pointer is elsewhere.
  virtual Result<PromotionEvent> rollback(const std::string& project, const std::string& image,
                                          const std::string& environment,
                                          const std::optional<std::string>& expected_digest = std::nullopt) = 0;
  // Whether `digest` of `image` was ever promoted into `environment`.
  virtual Result<bool> was_promoted(const std::string& project, const std::string& image,
                                    const std::string& environment, const std::string& digest) = 0;
  virtual Result<std::vector<PromotionEvent>> promotion_history(const PromotionFilter& filter) = 0;

  // ---- build step cache (step_cache.h, step_key.h) ----------------------------
  virtual Result<std::optional<StepCacheEntry>> find_step(const Digest& key) = 0;
  // Inserts unless the key is there already (then the stored entry stays).
  virtual Status put_step(const StepCacheEntry& entry) = 0;
  // Every key (sorted), for export (--cache-to) and tests.
  virtual Result<std::vector<Digest>> step_keys() = 0;
  // The latest earlier entry for (image, step_index) whose key differs from
  // `current`: the step at that index of the image's latest recorded build
  // when there is one, else the newest entry made at that position (--explain).
  virtual Result<std::optional<StepCacheEntry>> previous_step(const std::string& image, int step_index,
                                                              const Digest& current) = 0;
  virtual Status record_image_build(const ImageBuildRecord& build) = 0;
  // Builds of `image`, newest first (at most `limit`).
  virtual Result<std::vector<ImageBuildRecord>> image_builds(const std::string& image, int limit = 1) = 0;
  // The manifest of the latest build with this image key (a fully cached build
  // writes no config or manifest again).
  virtual Result<std::optional<Digest>> manifest_for_image_key(const Digest& image_key) = 0;

  // Entries of a shared step cache whose layer is not local yet.
  virtual Result<std::optional<DeferredStep>> find_deferred_step(const Digest& key) = 0;
  virtual Status defer_steps(const std::vector<DeferredStep>& steps) = 0;
  // The deferred entry's layer is local now: `entry` joins the step cache and
  // leaves the deferred ones, in one transaction.
  virtual Status adopt_deferred_step(const StepCacheEntry& entry) = 0;
};

}  // namespace gantry::cache
