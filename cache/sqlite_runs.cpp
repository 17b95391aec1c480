// SqliteMetadata (sqlite_metadata.h): runs, their stages, build steps and
// gates, the stage cache and watch positions.
#include "cache/sqlite_metadata.h"

namespace gantry::cache {

Status SqliteMetadata::create_run(const RunRecord& run) {
  auto tx = TRY(db_.transaction());
  auto st = TRY(db_.prepare(
      "INSERT INTO runs (id, repo, rev, commit_id, pipeline_file, pipeline_digest, status, waiting_environment,"
      " error, started_ms, finished_ms, repo_url, retry_of, project)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"));
  st.bind(1, run.id).bind(2, run.repo).bind(3, run.rev).bind(4, run.commit).bind(5, run.pipeline_file);
  st.bind(6, run.pipeline_digest).bind(7, to_string(run.status)).bind(8, run.waiting_environment).bind(9, run.error);
  st.bind(10, run.started_ms).bind(11, run.finished_ms).bind(12, run.repo_url).bind(13, run.retry_of);
  st.bind(14, run.project);
  TRY_CTX(st.run(), "recording run " + run.id);
  TRY(insert_images(run.id, run.images));
  return tx.commit();
}

Status SqliteMetadata::set_run_images(const std::string& run_id, const std::vector<RunImage>& images) {
  auto tx = TRY(db_.transaction());
  TRY(insert_images(run_id, images));
  return tx.commit();
}

Status SqliteMetadata::insert_images(const std::string& run_id, const std::vector<RunImage>& images) {
    auto st = TRY(db_.prepare("INSERT OR REPLACE INTO run_images (run_id, image, digest, built) VALUES (?1, ?2, ?3, ?4)"));
  for (const auto& image : images) {
    st.bind(1, run_id).bind(2, image.image).bind(3, image.digest).bind(4, std::int64_t{image.built ? 1 : 0});
    TRY_CTX(st.run(), "recording image " + image.image + " of run " + run_id);
    TRY(st.reset());
  }
  return {};
}

Status SqliteMetadata::set_run_status(const std::string& run_id, RunStatus status,
                            const std::string& waiting_environment, const std::string& error, bool finished) {
  auto st = TRY(db_.prepare(
      "UPDATE runs SET status = ?2, waiting_environment = ?3, error = ?4, finished_ms = ?5 WHERE id = ?1"));
  st.bind(1, run_id).bind(2, to_string(status)).bind(3, waiting_environment).bind(4, error);
  st.bind(5, finished ? clock_->now_ms() : 0);
  return st.run();
}

Result<std::vector<std::string>> SqliteMetadata::running_runs() {
  auto st = TRY(db_.prepare("SELECT id FROM runs WHERE status = 'running' ORDER BY started_ms, id"));
  std::vector<std::string> out;
  while (TRY(st.step())) out.push_back(st.column_text(0));
  return out;
}

Result<bool> SqliteMetadata::interrupt_run(const std::string& id, const std::string& error) {
  auto tx = TRY(db_.transaction());
  auto run = TRY(db_.prepare(
      "UPDATE runs SET status = 'interrupted', finished_ms = ?2, waiting_environment = '',"
      " error = ?3 WHERE id = ?1 AND status = 'running'"));
  run.bind(1, id).bind(2, clock_->now_ms()).bind(3, error);
  TRY_CTX(run.run(), "marking run " + id + " interrupted");
  if (sqlite3_changes(db_.handle()) == 0) return false;
  auto stages = TRY(db_.prepare(
      "UPDATE stage_results SET status = 'interrupted', detail = CASE status WHEN 'running' THEN"
      " 'the run was interrupted while it ran' ELSE 'not started: the run was interrupted' END"
      " WHERE run_id = ?1 AND status IN ('running', 'pending')"));
  stages.bind(1, id);
  TRY_CTX(stages.run(), "marking the stages of run " + id + " interrupted");
  TRY(tx.commit());
  return true;
}

Status SqliteMetadata::record_stage(const StageResult& r) {
  auto st = TRY(db_.prepare(
      "INSERT INTO stage_results (run_id, stage, environment, image, digest, status, cached, cached_from,"
      " exit_code, duration_ms, attempts, allow_failure, detail, cache_key, log_path, artifacts_dir, started_ms,"
      " original_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
      // An update keeps the row (and so its place: a run lists its stages in
      // the pipeline's order, every one recorded "pending" when the run starts).
      " ON CONFLICT (run_id, stage) DO UPDATE SET environment = excluded.environment, image = excluded.image,"
      " digest = excluded.digest, status = excluded.status, cached = excluded.cached,"
      " cached_from = excluded.cached_from, exit_code = excluded.exit_code, duration_ms = excluded.duration_ms,"
      " attempts = excluded.attempts, allow_failure = excluded.allow_failure, detail = excluded.detail,"
      " cache_key = excluded.cache_key, log_path = excluded.log_path, artifacts_dir = excluded.artifacts_dir,"
      " started_ms = excluded.started_ms, original_ms = excluded.original_ms"));
  st.bind(1, r.run_id).bind(2, r.stage).bind(3, r.environment).bind(4, r.image).bind(5, r.digest);
  st.bind(6, to_string(r.status)).bind(7, std::int64_t{r.cached}).bind(8, r.cached_from);
  st.bind(9, std::int64_t{r.exit_code});
  st.bind(10, r.duration_ms).bind(11, std::int64_t{r.attempts}).bind(12, std::int64_t{r.allow_failure});
  st.bind(13, r.detail).bind(14, r.cache_key).bind(15, r.log_path).bind(16, r.artifacts_dir).bind(17, r.started_ms);
  st.bind(18, r.original_ms);
  TRY_CTX(st.run(), "recording stage " + r.stage);
  return {};
}

Status SqliteMetadata::record_build_step(const std::string& run_id, const BuildStepRecord& b) {
  auto st = TRY(db_.prepare(
      "INSERT OR REPLACE INTO run_build_steps (run_id, image, step_index, step, status, cached, duration_ms,"
      " log_path, detail, kind, key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
  st.bind(1, run_id).bind(2, b.image).bind(3, std::int64_t{b.index}).bind(4, b.step).bind(5, to_string(b.status));
  st.bind(6, std::int64_t{b.cached}).bind(7, b.duration_ms).bind(8, b.log_path).bind(9, b.detail);
  st.bind(10, b.kind).bind(11, b.key);
  TRY_CTX(st.run(), "recording build step #" + std::to_string(b.index) + " of image " + b.image);
  return {};
}

Status SqliteMetadata::record_gate(const std::string& run_id, const GateRecord& g) {
  auto st = TRY(db_.prepare(
      "INSERT OR REPLACE INTO run_gates (run_id, environment, how, detail, time_ms) VALUES (?1, ?2, ?3, ?4, ?5)"));
  st.bind(1, run_id).bind(2, g.environment).bind(3, to_string(g.how)).bind(4, g.detail);
  st.bind(5, g.time_ms ? g.time_ms : clock_->now_ms());
  TRY_CTX(st.run(), "recording the gate of " + g.environment + " for run " + run_id);
  return {};
}

namespace {

constexpr const char* kRunColumns =
    "id, repo, rev, commit_id, pipeline_file, pipeline_digest, status, waiting_environment, error, started_ms,"
    " finished_ms, repo_url, retry_of, project";

Result<RunRecord> read_run(const Statement& st) {
  RunRecord r;
  r.id = st.column_text(0);
  r.repo = st.column_text(1);
  r.rev = st.column_text(2);
  r.commit = st.column_text(3);
  r.pipeline_file = st.column_text(4);
  r.pipeline_digest = st.column_text(5);
  r.status = TRY_CTX(parse_run_status(st.column_text(6)), "reading run " + r.id);
  r.waiting_environment = st.column_text(7);
  r.error = st.column_text(8);
  r.started_ms = st.column_int64(9);
  r.finished_ms = st.column_int64(10);
  r.repo_url = st.column_text(11);
  r.retry_of = st.column_text(12);
  r.project = st.column_text(13);
  return r;
}

Result<std::vector<StageResult>> stages_of(MetaDb& db_, const std::string& run_id) {
  auto st = TRY(db_.prepare(
      "SELECT run_id, stage, environment, image, digest, status, cached, cached_from, exit_code, duration_ms,"
      " attempts, allow_failure, detail, cache_key, log_path, artifacts_dir, started_ms, original_ms FROM stage_results"
      " WHERE run_id = ?1 ORDER BY rowid"));
  st.bind(1, run_id);
  std::vector<StageResult> out;
  while (TRY(st.step())) {
    StageResult r;
    r.run_id = st.column_text(0);
    r.stage = st.column_text(1);
    r.environment = st.column_text(2);
    r.image = st.column_text(3);
    r.digest = st.column_text(4);
    r.status = TRY_CTX(parse_stage_status(st.column_text(5)), "reading stage " + r.stage + " of run " + run_id);
    r.cached = st.column_int64(6) != 0;
    r.cached_from = st.column_text(7);
    r.exit_code = static_cast<int>(st.column_int64(8));
    r.duration_ms = st.column_int64(9);
    r.attempts = static_cast<int>(st.column_int64(10));
    r.allow_failure = st.column_int64(11) != 0;
    r.detail = st.column_text(12);
    r.cache_key = st.column_text(13);
    r.log_path = st.column_text(14);
    r.artifacts_dir = st.column_text(15);
    r.started_ms = st.column_int64(16);
    r.original_ms = st.column_int64(17);
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<RunImage>> images_of(MetaDb& db_, const std::string& run_id) {
  auto st = TRY(db_.prepare("SELECT image, digest, built FROM run_images WHERE run_id = ?1 ORDER BY image"));
  st.bind(1, run_id);
  std::vector<RunImage> out;
  while (TRY(st.step())) out.push_back({st.column_text(0), st.column_text(1), st.column_int64(2) != 0});
  return out;
}

}  // namespace

Status SqliteMetadata::fill(RunRecord& run) {
  run.images = TRY(images_of(db_, run.id));
  run.stages = TRY(stages_of(db_, run.id));
  auto steps = TRY(db_.prepare(
      "SELECT image, step_index, step, status, cached, duration_ms, log_path, detail, kind, key FROM run_build_steps"
      " WHERE run_id = ?1 ORDER BY rowid"));
  steps.bind(1, run.id);
  run.build_steps.clear();
  while (TRY(steps.step())) {
    BuildStepRecord b;
    b.image = steps.column_text(0);
    b.index = static_cast<int>(steps.column_int64(1));
    b.step = steps.column_text(2);
    b.status = TRY_CTX(parse_step_status(steps.column_text(3)),
                       "reading build step #" + std::to_string(b.index) + " of run " + run.id);
    b.cached = steps.column_int64(4) != 0;
    b.duration_ms = steps.column_int64(5);
    b.log_path = steps.column_text(6);
    b.detail = steps.column_text(7);
    b.kind = steps.column_text(8);
    b.key = steps.column_text(9);
    run.build_steps.push_back(std::move(b));
  }
  auto gates = TRY(db_.prepare(
      "SELECT environment, how, detail, time_ms FROM run_gates WHERE run_id = ?1 ORDER BY time_ms, rowid"));
  gates.bind(1, run.id);
  run.gates.clear();
  while (TRY(gates.step())) {
    GateRecord g{.environment = gates.column_text(0), .detail = gates.column_text(2), .time_ms = gates.column_int64(3)};
    g.how = TRY_CTX(parse_gate_outcome(gates.column_text(1)),
                    "reading the gate of " + g.environment + " of run " + run.id);
    run.gates.push_back(std::move(g));
  }
  return {};
}

Result<RunRecord> SqliteMetadata::find_run(const std::string& part) {
  if (part.empty()) return fail(ErrorKind::invalid_input, "empty run id");
  auto st = TRY(db_.prepare(std::string("SELECT ") + kRunColumns +
                                    " FROM runs WHERE instr(id, ?1) > 0 ORDER BY started_ms DESC, id DESC"));
  st.bind(1, part);
  std::vector<RunRecord> containing;
  while (TRY(st.step())) containing.push_back(TRY(read_run(st)));
  RunRecord run = TRY(pick_run(part, std::move(containing)));
  TRY(fill(run));
  return run;
}

Result<bool> SqliteMetadata::has_run(const std::string& run_id) {
  auto st = TRY(db_.prepare("SELECT 1 FROM runs WHERE id = ?1"));
  st.bind(1, run_id);
  return st.step();
}

Result<std::vector<RunRecord>> SqliteMetadata::list_runs(const RunFilter& f) {
  auto st = TRY(db_.prepare(std::string("SELECT ") + kRunColumns +
                            " FROM runs WHERE (?1 = '' OR id IN (SELECT run_id FROM run_images WHERE image = ?1))"
                            " AND (?2 = '' OR project = ?2) AND (?3 = '' OR status = ?3)"
                            " ORDER BY started_ms DESC, id DESC LIMIT ?4 OFFSET ?5"));
  st.bind(1, f.image).bind(2, f.project).bind(3, f.status);
  st.bind(4, std::int64_t{f.limit}).bind(5, std::int64_t{f.offset});
  std::vector<RunRecord> out;
  while (TRY(st.step())) out.push_back(TRY(read_run(st)));
  if (f.with_details)
    for (auto& run : out) TRY(fill(run));
  return out;
}

Result<std::vector<std::string>> SqliteMetadata::projects(const std::string& image) {
  auto st = TRY(db_.prepare(
      "SELECT DISTINCT project FROM runs WHERE ?1 = '' OR id IN (SELECT run_id FROM run_images WHERE image = ?1)"
      " UNION SELECT DISTINCT project FROM environments WHERE ?1 = '' OR image = ?1 ORDER BY 1"));
  st.bind(1, image);
  std::vector<std::string> out;
  while (TRY(st.step())) out.push_back(st.column_text(0));
  return out;
}

Result<std::vector<RunAge>> SqliteMetadata::runs_by_age() {
  // In use: running or waiting, named by a pointer, or serving a stage-cache entry.
  auto st = TRY(db_.prepare(
      "SELECT id, started_ms, id IN (SELECT id FROM runs WHERE status IN ('running', 'waiting')"
      " UNION SELECT run_id FROM environments UNION SELECT run_id FROM stage_cache) FROM runs"
      " ORDER BY started_ms DESC, id DESC"));
  std::vector<RunAge> out;
  while (TRY(st.step())) out.push_back({st.column_text(0), st.column_int64(1), st.column_int64(2) != 0});
  return out;
}

Status SqliteMetadata::delete_runs(const std::vector<std::string>& run_ids) {
  auto tx = TRY(db_.transaction());
  // Every table of a run's own record; promotions stay: they are the audit trail.
  for (const char* sql : {"DELETE FROM stage_results WHERE run_id = ?1", "DELETE FROM run_images WHERE run_id = ?1",
                          "DELETE FROM run_build_steps WHERE run_id = ?1", "DELETE FROM run_gates WHERE run_id = ?1",
                          "DELETE FROM runs WHERE id = ?1"}) {
    auto del = TRY(db_.prepare(sql));
    for (const auto& id : run_ids) {
      TRY(del.reset());
      del.bind(1, id);
      TRY_CTX(del.run(), "deleting the records of run " + id);
    }
  }
  return tx.commit();
}

Result<std::optional<CachedStage>> SqliteMetadata::find_cached_stage(const std::string& key) {
  auto st = TRY(db_.prepare(
      "SELECT key, record, run_id, stage, exit_code, duration_ms, log_path, artifacts_dir, created_ms"
      " FROM stage_cache WHERE key = ?1"));
  st.bind(1, key);
  if (!TRY(st.step())) return std::optional<CachedStage>();
  CachedStage c;
  c.key = st.column_text(0);
  c.record = st.column_text(1);
  c.run_id = st.column_text(2);
  c.stage = st.column_text(3);
  c.exit_code = static_cast<int>(st.column_int64(4));
  c.duration_ms = st.column_int64(5);
  c.log_path = st.column_text(6);
  c.artifacts_dir = st.column_text(7);
  c.created_ms = st.column_int64(8);
  return std::optional<CachedStage>(std::move(c));
}

Status SqliteMetadata::put_cached_stage(const CachedStage& c) {
  auto st = TRY(db_.prepare(
      "INSERT OR REPLACE INTO stage_cache (key, record, run_id, stage, exit_code, duration_ms, log_path,"
      " artifacts_dir, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
  st.bind(1, c.key).bind(2, c.record).bind(3, c.run_id).bind(4, c.stage).bind(5, std::int64_t{c.exit_code});
  st.bind(6, c.duration_ms).bind(7, c.log_path).bind(8, c.artifacts_dir).bind(9, c.created_ms ? c.created_ms : clock_->now_ms());
  return st.run();
}

Result<std::optional<std::string>> SqliteMetadata::watch_position(const std::string& repo, const std::string& branch) {
  auto st = TRY(db_.prepare("SELECT commit_id FROM watch_positions WHERE repo = ?1 AND branch = ?2"));
  st.bind(1, repo).bind(2, branch);
  if (!TRY(st.step())) return std::optional<std::string>();
  return std::optional<std::string>(st.column_text(0));
}

Status SqliteMetadata::set_watch_position(const std::string& repo, const std::string& branch, const std::string& commit) {
  auto st = TRY(db_.prepare(
      "INSERT OR REPLACE INTO watch_positions (repo, branch, commit_id, updated_ms) VALUES (?1, ?2, ?3, ?4)"));
  st.bind(1, repo).bind(2, branch).bind(3, commit).bind(4, clock_->now_ms());
  return st.run();
}

}  // namespace gantry::cache
