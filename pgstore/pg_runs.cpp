// PgMetadata (pg_metadata.h): connecting, runs, their stages, build steps and
// gates, the stage cache and watch positions.
#include "pgstore/pg_metadata.h"

#include "pgstore/pg_schema.h"

namespace gantry::pgstore {

Result<std::unique_ptr<PgMetadata>> PgMetadata::connect(const std::string& url, const Clock& clock) {
  auto conn = TRY(PgConn::connect(url));
  TRY(migrate(*conn));
  return std::unique_ptr<PgMetadata>(new PgMetadata(std::move(conn), clock));
}

Status PgMetadata::create_run(const RunRecord& run) {
  return conn_->transaction([&]() -> Status {
    TRY_CTX(conn_->exec("INSERT INTO runs (id, repo, rev, commit_id, pipeline_file, pipeline_digest, status,"
                        " waiting_environment, error, started_ms, finished_ms, repo_url, retry_of, project)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                        {run.id, run.repo, run.rev, run.commit, run.pipeline_file, run.pipeline_digest,
                         to_string(run.status), run.waiting_environment, run.error, run.started_ms, run.finished_ms,
                         run.repo_url, run.retry_of, run.project}),
            "recording run " + run.id);
    return insert_images(run.id, run.images);
  });
}

Status PgMetadata::set_run_images(const std::string& run_id, const std::vector<RunImage>& images) {
  return conn_->transaction([&]() -> Status { return insert_images(run_id, images); });
}

Status PgMetadata::insert_images(const std::string& run_id, const std::vector<RunImage>& images) {
  for (const auto& image : images)
    TRY_CTX(conn_->exec("INSERT INTO run_images (run_id, image, digest, built) VALUES ($1, $2, $3, $4)"
                        " ON CONFLICT (run_id, image) DO UPDATE SET digest = excluded.digest, built = excluded.built",
                        {run_id, image.image, image.digest, image.built}),
            "recording image " + image.image + " of run " + run_id);
  return {};
}

Status PgMetadata::set_run_status(const std::string& run_id, RunStatus status,
                                  const std::string& waiting_environment, const std::string& error, bool finished) {
  TRY_CTX(conn_->exec("UPDATE runs SET status = $2, waiting_environment = $3, error = $4, finished_ms = $5"
                      " WHERE id = $1",
                      {run_id, to_string(status), waiting_environment, error,
                       finished ? clock_->now_ms() : std::int64_t{0}}),
          "recording the status of run " + run_id);
  return {};
}

Result<std::vector<std::string>> PgMetadata::running_runs() {
  auto rows = TRY(conn_->exec("SELECT id FROM runs WHERE status = 'running' ORDER BY started_ms, id"));
  std::vector<std::string> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(rows.text(i, 0));
  return out;
}

Result<bool> PgMetadata::interrupt_run(const std::string& id, const std::string& error) {
  return conn_->transaction([&]() -> Result<bool> {
    auto run = TRY_CTX(conn_->exec("UPDATE runs SET status = 'interrupted', finished_ms = $2,"
                                   " waiting_environment = '', error = $3 WHERE id = $1 AND status = 'running'",
                                   {id, clock_->now_ms(), error}),
                       "marking run " + id + " interrupted");
    if (run.affected() == 0) return false;
    TRY_CTX(conn_->exec("UPDATE stage_results SET status = 'interrupted', detail = CASE status WHEN 'running'"
                        " THEN 'the run was interrupted while it ran' ELSE 'not started: the run was interrupted'"
                        " END WHERE run_id = $1 AND status IN ('running', 'pending')",
                        {id}),
            "marking the stages of run " + id + " interrupted");
    return true;
  });
}

Status PgMetadata::record_stage(const StageResult& r) {
  // An update keeps the row and its seq (a run lists its stages in the order
  // they were first recorded: the pipeline's, every one "pending" at the start).
  TRY_CTX(conn_->exec(
              "INSERT INTO stage_results (run_id, stage, environment, image, digest, status, cached, cached_from,"
              " exit_code, duration_ms, attempts, allow_failure, detail, cache_key, log_path, artifacts_dir,"
              " started_ms, original_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,"
              " $16, $17, $18)"
              " ON CONFLICT (run_id, stage) DO UPDATE SET environment = excluded.environment,"
              " image = excluded.image, digest = excluded.digest, status = excluded.status,"
              " cached = excluded.cached, cached_from = excluded.cached_from, exit_code = excluded.exit_code,"
              " duration_ms = excluded.duration_ms, attempts = excluded.attempts,"
              " allow_failure = excluded.allow_failure, detail = excluded.detail, cache_key = excluded.cache_key,"
              " log_path = excluded.log_path, artifacts_dir = excluded.artifacts_dir,"
              " started_ms = excluded.started_ms, original_ms = excluded.original_ms",
              {r.run_id, r.stage, r.environment, r.image, r.digest, to_string(r.status), r.cached, r.cached_from,
               r.exit_code, r.duration_ms, r.attempts, r.allow_failure, r.detail, r.cache_key, r.log_path,
               r.artifacts_dir, r.started_ms, r.original_ms}),
          "recording stage " + r.stage);
  return {};
}

Status PgMetadata::record_build_step(const std::string& run_id, const BuildStepRecord& b) {
  TRY_CTX(conn_->exec("INSERT INTO run_build_steps (run_id, image, step_index, step, status, cached, duration_ms,"
                      " log_path, detail, kind, key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                      " ON CONFLICT (run_id, image, step_index) DO UPDATE SET step = excluded.step,"
                      " status = excluded.status, cached = excluded.cached, duration_ms = excluded.duration_ms,"
                      " log_path = excluded.log_path, detail = excluded.detail, kind = excluded.kind,"
                      " key = excluded.key",
                      {run_id, b.image, b.index, b.step, to_string(b.status), b.cached, b.duration_ms, b.log_path,
                       b.detail, b.kind, b.key}),
          "recording build step #" + std::to_string(b.index) + " of image " + b.image);
  return {};
}

Status PgMetadata::record_gate(const std::string& run_id, const GateRecord& g) {
  TRY_CTX(conn_->exec("INSERT INTO run_gates (run_id, environment, how, detail, time_ms) VALUES ($1, $2, $3, $4, $5)"
                      " ON CONFLICT (run_id, environment) DO UPDATE SET how = excluded.how,"
                      " detail = excluded.detail, time_ms = excluded.time_ms",
                      {run_id, g.environment, to_string(g.how), g.detail, g.time_ms ? g.time_ms : clock_->now_ms()}),
          "recording the gate of " + g.environment + " for run " + run_id);
  return {};
}

namespace {

constexpr const char* kRunColumns =
    "id, repo, rev, commit_id, pipeline_file, pipeline_digest, status, waiting_environment, error, started_ms,"
    " finished_ms, repo_url, retry_of, project";

Result<RunRecord> read_run(const Rows& rows, int i) {
  RunRecord r;
  r.id = rows.text(i, 0);
  r.repo = rows.text(i, 1);
  r.rev = rows.text(i, 2);
  r.commit = rows.text(i, 3);
  r.pipeline_file = rows.text(i, 4);
  r.pipeline_digest = rows.text(i, 5);
  r.status = TRY_CTX(cache::parse_run_status(rows.text(i, 6)), "reading run " + r.id);
  r.waiting_environment = rows.text(i, 7);
  r.error = rows.text(i, 8);
  r.started_ms = rows.int64(i, 9);
  r.finished_ms = rows.int64(i, 10);
  r.repo_url = rows.text(i, 11);
  r.retry_of = rows.text(i, 12);
  r.project = rows.text(i, 13);
  return r;
}

Result<StageResult> read_stage(const Rows& rows, int i) {
  StageResult r;
  r.run_id = rows.text(i, 0);
  r.stage = rows.text(i, 1);
  r.environment = rows.text(i, 2);
  r.image = rows.text(i, 3);
  r.digest = rows.text(i, 4);
  r.status = TRY_CTX(cache::parse_stage_status(rows.text(i, 5)), "reading stage " + r.stage + " of run " + r.run_id);
  r.cached = rows.boolean(i, 6);
  r.cached_from = rows.text(i, 7);
  r.exit_code = static_cast<int>(rows.int64(i, 8));
  r.duration_ms = rows.int64(i, 9);
  r.attempts = static_cast<int>(rows.int64(i, 10));
  r.allow_failure = rows.boolean(i, 11);
  r.detail = rows.text(i, 12);
  r.cache_key = rows.text(i, 13);
  r.log_path = rows.text(i, 14);
  r.artifacts_dir = rows.text(i, 15);
  r.started_ms = rows.int64(i, 16);
  r.original_ms = rows.int64(i, 17);
  return r;
}

Result<BuildStepRecord> read_build_step(const Rows& rows, int i, const std::string& run_id) {
  BuildStepRecord b;
  b.image = rows.text(i, 0);
  b.index = static_cast<int>(rows.int64(i, 1));
  b.step = rows.text(i, 2);
  b.status = TRY_CTX(cache::parse_step_status(rows.text(i, 3)),
                     "reading build step #" + std::to_string(b.index) + " of run " + run_id);
  b.cached = rows.boolean(i, 4);
  b.duration_ms = rows.int64(i, 5);
  b.log_path = rows.text(i, 6);
  b.detail = rows.text(i, 7);
  b.kind = rows.text(i, 8);
  b.key = rows.text(i, 9);
  return b;
}

}  // namespace

Status PgMetadata::fill(RunRecord& run) {
  // One snapshot of the run: its parts read in one transaction.
  return conn_->transaction([&]() -> Status {
    auto images = TRY(conn_->exec("SELECT image, digest, built FROM run_images WHERE run_id = $1 ORDER BY image",
                                  {run.id}));
    run.images.clear();
    for (int i = 0; i < images.size(); ++i)
      run.images.push_back({images.text(i, 0), images.text(i, 1), images.boolean(i, 2)});
    auto stages = TRY(conn_->exec(
        "SELECT run_id, stage, environment, image, digest, status, cached, cached_from, exit_code, duration_ms,"
        " attempts, allow_failure, detail, cache_key, log_path, artifacts_dir, started_ms, original_ms"
        " FROM stage_results WHERE run_id = $1 ORDER BY seq",
        {run.id}));
    run.stages.clear();
    for (int i = 0; i < stages.size(); ++i) run.stages.push_back(TRY(read_stage(stages, i)));
    auto steps = TRY(conn_->exec("SELECT image, step_index, step, status, cached, duration_ms, log_path, detail,"
                                 " kind, key FROM run_build_steps WHERE run_id = $1 ORDER BY seq",
                                 {run.id}));
    run.build_steps.clear();
    for (int i = 0; i < steps.size(); ++i) run.build_steps.push_back(TRY(read_build_step(steps, i, run.id)));
    auto gates = TRY(conn_->exec(
        "SELECT environment, how, detail, time_ms FROM run_gates WHERE run_id = $1 ORDER BY time_ms, seq", {run.id}));
    run.gates.clear();
    for (int i = 0; i < gates.size(); ++i) {
      GateRecord g{.environment = gates.text(i, 0), .detail = gates.text(i, 2), .time_ms = gates.int64(i, 3)};
      g.how = TRY_CTX(cache::parse_gate_outcome(gates.text(i, 1)),
                      "reading the gate of " + g.environment + " of run " + run.id);
      run.gates.push_back(std::move(g));
    }
    return {};
  });
}

Result<RunRecord> PgMetadata::find_run(const std::string& part) {
  if (part.empty()) return fail(ErrorKind::invalid_input, "empty run id");
  auto rows = TRY(conn_->exec(std::string("SELECT ") + kRunColumns +
                                  " FROM runs WHERE strpos(id, $1) > 0 ORDER BY started_ms DESC, id DESC",
                              {part}));
  std::vector<RunRecord> containing;
  for (int i = 0; i < rows.size(); ++i) containing.push_back(TRY(read_run(rows, i)));
  RunRecord run = TRY(cache::pick_run(part, std::move(containing)));
  TRY(fill(run));
  return run;
}

Result<bool> PgMetadata::has_run(const std::string& run_id) {
  auto rows = TRY(conn_->exec("SELECT 1 FROM runs WHERE id = $1", {run_id}));
  return !rows.empty();
}

Result<std::vector<RunRecord>> PgMetadata::list_runs(const RunFilter& f) {
  auto rows = TRY(conn_->exec(std::string("SELECT ") + kRunColumns +
                                  " FROM runs WHERE ($1 = '' OR id IN (SELECT run_id FROM run_images WHERE image = $1))"
                                  " AND ($2 = '' OR project = $2) AND ($3 = '' OR status = $3)"
                                  " ORDER BY started_ms DESC, id DESC LIMIT $4 OFFSET $5",
                              {f.image, f.project, f.status, f.limit, f.offset}));
  std::vector<RunRecord> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(TRY(read_run(rows, i)));
  if (f.with_details)
    for (auto& run : out) TRY(fill(run));
  return out;
}

Result<std::vector<std::string>> PgMetadata::projects(const std::string& image) {
  auto rows = TRY(conn_->exec(
      "SELECT project FROM runs WHERE $1 = '' OR id IN (SELECT run_id FROM run_images WHERE image = $1)"
      " UNION SELECT project FROM environments WHERE $1 = '' OR image = $1 ORDER BY 1",
      {image}));
  std::vector<std::string> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(rows.text(i, 0));
  return out;
}

Result<std::vector<cache::RunAge>> PgMetadata::runs_by_age() {
  // In use: running or waiting, named by a pointer, or serving a stage-cache entry.
  auto rows = TRY(conn_->exec(
      "SELECT id, started_ms, (status IN ('running', 'waiting') OR id IN (SELECT run_id FROM environments)"
      " OR id IN (SELECT run_id FROM stage_cache)) FROM runs ORDER BY started_ms DESC, id DESC"));
  std::vector<cache::RunAge> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back({rows.text(i, 0), rows.int64(i, 1), rows.boolean(i, 2)});
  return out;
}

Status PgMetadata::delete_runs(const std::vector<std::string>& run_ids) {
  return conn_->transaction([&]() -> Status {
    // Every table of a run's own record; promotions stay: they are the audit trail.
    for (const char* sql : {"DELETE FROM stage_results WHERE run_id = $1", "DELETE FROM run_images WHERE run_id = $1",
                            "DELETE FROM run_build_steps WHERE run_id = $1", "DELETE FROM run_gates WHERE run_id = $1",
                            "DELETE FROM runs WHERE id = $1"})
      for (const auto& id : run_ids) TRY_CTX(conn_->exec(sql, {id}), "deleting the records of run " + id);
    return {};
  });
}

Result<std::optional<CachedStage>> PgMetadata::find_cached_stage(const std::string& key) {
  auto rows = TRY(conn_->exec("SELECT key, record, run_id, stage, exit_code, duration_ms, log_path, artifacts_dir,"
                              " created_ms FROM stage_cache WHERE key = $1",
                              {key}));
  if (rows.empty()) return std::optional<CachedStage>();
  CachedStage c;
  c.key = rows.text(0, 0);
  c.record = rows.text(0, 1);
  c.run_id = rows.text(0, 2);
  c.stage = rows.text(0, 3);
  c.exit_code = static_cast<int>(rows.int64(0, 4));
  c.duration_ms = rows.int64(0, 5);
  c.log_path = rows.text(0, 6);
  c.artifacts_dir = rows.text(0, 7);
  c.created_ms = rows.int64(0, 8);
  return std::optional<CachedStage>(std::move(c));
}

Status PgMetadata::put_cached_stage(const CachedStage& c) {
  TRY_CTX(conn_->exec("INSERT INTO stage_cache (key, record, run_id, stage, exit_code, duration_ms, log_path,"
                      " artifacts_dir, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                      " ON CONFLICT (key) DO UPDATE SET record = excluded.record, run_id = excluded.run_id,"
                      " stage = excluded.stage, exit_code = excluded.exit_code, duration_ms = excluded.duration_ms,"
                      " log_path = excluded.log_path, artifacts_dir = excluded.artifacts_dir,"
                      " created_ms = excluded.created_ms",
                      {c.key, c.record, c.run_id, c.stage, c.exit_code, c.duration_ms, c.log_path, c.artifacts_dir,
                       c.created_ms ? c.created_ms : clock_->now_ms()}),
          "caching the result of stage " + c.stage);
  return {};
}

Result<std::optional<std::string>> PgMetadata::watch_position(const std::string& repo, const std::string& branch) {
  auto rows = TRY(conn_->exec("SELECT commit_id FROM watch_positions WHERE repo = $1 AND branch = $2", {repo, branch}));
  if (rows.empty()) return std::optional<std::string>();
  return std::optional<std::string>(rows.text(0, 0));
}

Status PgMetadata::set_watch_position(const std::string& repo, const std::string& branch, const std::string& commit) {
  TRY_CTX(conn_->exec("INSERT INTO watch_positions (repo, branch, commit_id, updated_ms) VALUES ($1, $2, $3, $4)"
                      " ON CONFLICT (repo, branch) DO UPDATE SET commit_id = excluded.commit_id,"
                      " updated_ms = excluded.updated_ms",
                      {repo, branch, commit, clock_->now_ms()}),
          "recording the watch position of " + repo + " " + branch);
  return {};
}

}  // namespace gantry::pgstore
