// The metadata interface (metadata.h) on the store's SQLite meta.db.
//
// Tables (meta_schema.cpp holds their migrations):
//   runs(id, repo, rev, commit_id, pipeline_file, pipeline_digest, status,
//        waiting_environment, error, started_ms, finished_ms, retry_of,
//        repo_url, project)                      "0100-runs", "0102-*", "0104-projects"
//   run_images(run_id, image, digest, built)
//   stage_results(run_id, stage, environment, image, digest, status, cached,
//        cached_from, exit_code, duration_ms, attempts, allow_failure, detail,
//        cache_key, log_path, artifacts_dir, started_ms, original_ms)
//   run_build_steps(run_id, image, step_index, kind, step, key, status, cached,
//        duration_ms, log_path, detail)
//   run_gates(run_id, environment, how, detail, time_ms)
//   stage_cache(key, record, run_id, stage, exit_code, duration_ms, log_path,
//        artifacts_dir, created_ms)            only passed results are cached
//   watch_positions(repo, branch, commit_id, updated_ms)
//   environments(project, image, environment, digest, commit_id, run_id,
//        time_ms, previous_digest, event_id)   "0101-environments"
//   promotions(id, kind, project, image, environment, digest, replaced_digest,
//        pointer_previous, commit_id, run_id, time_ms, reason)
//                                              kind: promote | rollback | refused
//   step_cache, image_builds                    step_cache.h ("0200-step-cache")
//   step_cache_deferred(key, entry, registry, repository, insecure, created)
// `replaced_digest` is what a promotion event moved the pointer away from;
// `pointer_previous` is the rollback target the pointer had after the event.
//
// Every write that touches more than one row runs in one BEGIN IMMEDIATE
// transaction: SQLite's write lock serializes it with every other writer of
// the file, in this process or another, so the compare-and-swap of a pointer
// reads and moves it under the same lock.
#pragma once

#include "cache/meta_db.h"
#include "cache/metadata.h"
#include "common/clock.h"

namespace gantry::cache {

class SqliteMetadata final : public Metadata {
 public:
  // `clock` is the owner's clock pointer (Store::clock_), read at each call,
  // so Store::set_clock() reaches the times recorded here too.
  SqliteMetadata(MetaDb& db, const Clock* const& clock) : db_(db), clock_(clock) {}

  Status create_run(const RunRecord& run) override;
  Status set_run_images(const std::string& run_id, const std::vector<RunImage>& images) override;
  Status set_run_status(const std::string& run_id, RunStatus status, const std::string& waiting_environment,
                        const std::string& error, bool finished) override;
  Status record_stage(const StageResult& result) override;
  Status record_build_step(const std::string& run_id, const BuildStepRecord& step) override;
  Status record_gate(const std::string& run_id, const GateRecord& gate) override;
  Result<RunRecord> find_run(const std::string& id_or_part) override;
  Result<bool> has_run(const std::string& run_id) override;
  Result<std::vector<RunRecord>> list_runs(const RunFilter& filter) override;
  Result<std::vector<std::string>> projects(const std::string& image) override;
  Result<std::vector<std::string>> running_runs() override;
  Result<bool> interrupt_run(const std::string& run_id, const std::string& error) override;
  Result<std::vector<RunAge>> runs_by_age() override;
  Status delete_runs(const std::vector<std::string>& run_ids) override;

  Result<std::optional<CachedStage>> find_cached_stage(const std::string& key) override;
  Status put_cached_stage(const CachedStage& entry) override;
  Result<std::optional<std::string>> watch_position(const std::string& repo, const std::string& branch) override;
  Status set_watch_position(const std::string& repo, const std::string& branch, const std::string& commit) override;

  Result<std::optional<EnvironmentPointer>> environment_pointer(const std::string& project, const std::string& image,
                                                                const std::string& environment) override;
  Result<std::vector<EnvironmentPointer>> environment_pointers(const std::string& project,
                                                               const std::string& image) override;
  Result<PromotionEvent> refuse(const PointerMove& move, const std::string& reason) override;
  Result<std::optional<PromotionEvent>> promote(const PointerMove& move) override;
  Result<PromotionEvent> rollback(const std::string& project, const std::string& image, const std::string& environment,
                                  const std::optional<std::string>& expected_digest) override;
  Result<bool> was_promoted(const std::string& project, const std::string& image, const std::string& environment,
                            const std::string& digest) override;
  Result<std::vector<PromotionEvent>> promotion_history(const PromotionFilter& filter) override;

  Result<std::optional<StepCacheEntry>> find_step(const Digest& key) override;
  Status put_step(const StepCacheEntry& entry) override;
  Result<std::vector<Digest>> step_keys() override;
  Result<std::optional<StepCacheEntry>> previous_step(const std::string& image, int step_index,
                                                      const Digest& current) override;
  Status record_image_build(const ImageBuildRecord& build) override;
  Result<std::vector<ImageBuildRecord>> image_builds(const std::string& image, int limit) override;
  Result<std::optional<Digest>> manifest_for_image_key(const Digest& image_key) override;
  Result<std::optional<DeferredStep>> find_deferred_step(const Digest& key) override;
  Status defer_steps(const std::vector<DeferredStep>& steps) override;
  Status adopt_deferred_step(const StepCacheEntry& entry) override;

 private:
  Status fill(RunRecord& run);
  Status insert_images(const std::string& run_id, const std::vector<RunImage>& images);
  MetaDb& db_;
  const Clock* const& clock_;
};

}  // namespace gantry::cache
