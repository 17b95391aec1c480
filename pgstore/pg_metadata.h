// The metadata interface (cache/metadata.h) on PostgreSQL: the shared record
// of a fleet (issue 17), selected by `--db postgresql://...` or GANTRY_DB.
// The store's files (blobs, layers, tags, logs) stay in each host's local
// store; runs, stage results, environments, promotions and the caches' keys
// are here, shared by every gantry that names the same database.
//
// Schema: pg_schema.cpp (versioned migrations; a newer gantry's schema is a
// clear error). Connection: pg_conn.h (one libpq connection, reconnected once
// when it drops; every query parameterized).
//
// Atomicity: every call is one statement or one transaction
// (PgConn::transaction). A promotion or rollback takes a transaction-scoped
// advisory lock on its (project, image, environment) -- a pointer that does
// not exist yet has no row to lock -- then reads the pointer with SELECT ...
// FOR UPDATE, checks the compare-and-swap and the must_have_passed rule, and
// writes the event and the pointer, all in that one transaction: two gantry
// processes on two hosts promoting one environment are serialized, and a
// refused promotion changes nothing.
#pragma once

#include <memory>
#include <string>

#include "cache/metadata.h"
#include "common/clock.h"
#include "pgstore/pg_conn.h"

namespace gantry::pgstore {

using cache::BuildStepRecord;
using cache::CachedStage;
using cache::DeferredStep;
using cache::EnvironmentPointer;
using cache::GateRecord;
using cache::ImageBuildRecord;
using cache::PointerMove;
using cache::PromotionEvent;
using cache::PromotionFilter;
using cache::RunAge;
using cache::RunFilter;
using cache::RunImage;
using cache::RunRecord;
using cache::RunStatus;
using cache::StageResult;
using cache::StepCacheEntry;

class PgMetadata final : public cache::Metadata {
 public:
  // Connects and migrates: invalid_input for a URL that is not postgresql://,
  // io naming the URL (password masked) when the server cannot be reached or
  // refuses the credentials, conflict for a schema from a newer gantry.
  // `clock` gives the times recorded (the store's: Store::clock()).
  static Result<std::unique_ptr<PgMetadata>> connect(const std::string& url, const Clock& clock = system_clock());

  PgConn& connection() { return *conn_; }
  bool shared() const override { return true; }

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
  PgMetadata(std::unique_ptr<PgConn> conn, const Clock& clock) : conn_(std::move(conn)), clock_(&clock) {}
  Status fill(RunRecord& run);
  Status insert_images(const std::string& run_id, const std::vector<RunImage>& images);
  std::unique_ptr<PgConn> conn_;
  const Clock* clock_;
};

}  // namespace gantry::pgstore
