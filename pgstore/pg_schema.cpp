// The PostgreSQL schema of a fleet's record, written down once. Each
// migration has a never-reused id; `gantry_schema` lists the applied ones.
// Never edit an applied migration: add a new one. A database that lists a
// migration this binary does not know was written by a newer gantry: opening
// it is an error (its tables may mean something this binary cannot honour).
//
// The tables mirror meta.db's (cache/sqlite_metadata.h) with PostgreSQL's
// types; `seq` columns keep the order rows were first recorded in (SQLite's
// rowid). Times are unix milliseconds, except step_cache.created and
// image_builds.created (unix seconds, as step_cache.h has them).
#include "pgstore/pg_schema.h"

namespace gantry::pgstore {

namespace {

struct PgMigration {
  const char* id;
  const char* sql;
};

constexpr PgMigration kMigrations[] = {
    {"0100-runs",
     "CREATE TABLE runs ("
     "  id TEXT PRIMARY KEY,"
     "  repo TEXT NOT NULL,"
     "  rev TEXT NOT NULL,"
     "  commit_id TEXT NOT NULL,"
     "  pipeline_file TEXT NOT NULL,"
     "  pipeline_digest TEXT NOT NULL,"
     "  status TEXT NOT NULL,"  // running | passed | failed | waiting | interrupted
     "  waiting_environment TEXT NOT NULL,"
     "  error TEXT NOT NULL,"
     "  started_ms BIGINT NOT NULL,"
     "  finished_ms BIGINT NOT NULL,"
     "  repo_url TEXT NOT NULL,"
     "  retry_of TEXT NOT NULL,"
     "  project TEXT NOT NULL);"
     "CREATE INDEX runs_started ON runs(started_ms DESC, id DESC);"
     "CREATE INDEX runs_status ON runs(status);"
     "CREATE TABLE run_images ("
     "  run_id TEXT NOT NULL,"
     "  image TEXT NOT NULL,"
     "  digest TEXT NOT NULL,"
     "  built BOOLEAN NOT NULL,"
     "  PRIMARY KEY (run_id, image));"
     "CREATE INDEX run_images_image ON run_images(image);"
     "CREATE TABLE stage_results ("
     "  seq BIGSERIAL NOT NULL,"
     "  run_id TEXT NOT NULL,"
     "  stage TEXT NOT NULL,"
     "  environment TEXT NOT NULL,"
     "  image TEXT NOT NULL,"
     "  digest TEXT NOT NULL,"
     "  status TEXT NOT NULL,"
     "  cached BOOLEAN NOT NULL,"
     "  cached_from TEXT NOT NULL,"
     "  exit_code INTEGER NOT NULL,"
     "  duration_ms BIGINT NOT NULL,"
     "  attempts INTEGER NOT NULL,"
     "  allow_failure BOOLEAN NOT NULL,"
     "  detail TEXT NOT NULL,"
     "  cache_key TEXT NOT NULL,"
     "  log_path TEXT NOT NULL,"
     "  artifacts_dir TEXT NOT NULL,"
     "  started_ms BIGINT NOT NULL,"
     "  original_ms BIGINT NOT NULL,"
     "  PRIMARY KEY (run_id, stage));"
     "CREATE TABLE run_build_steps ("
     "  seq BIGSERIAL NOT NULL,"
     "  run_id TEXT NOT NULL,"
     "  image TEXT NOT NULL,"
     "  step_index INTEGER NOT NULL,"
     "  kind TEXT NOT NULL,"
     "  step TEXT NOT NULL,"
     "  key TEXT NOT NULL,"
     "  status TEXT NOT NULL,"
     "  cached BOOLEAN NOT NULL,"
     "  duration_ms BIGINT NOT NULL,"
     "  log_path TEXT NOT NULL,"
     "  detail TEXT NOT NULL,"
     "  PRIMARY KEY (run_id, image, step_index));"
     "CREATE TABLE run_gates ("
     "  seq BIGSERIAL NOT NULL,"
     "  run_id TEXT NOT NULL,"
     "  environment TEXT NOT NULL,"
     "  how TEXT NOT NULL,"
     "  detail TEXT NOT NULL,"
     "  time_ms BIGINT NOT NULL,"
     "  PRIMARY KEY (run_id, environment));"
     "CREATE TABLE stage_cache ("
     "  key TEXT PRIMARY KEY,"
     "  record TEXT NOT NULL,"
     "  run_id TEXT NOT NULL,"
     "  stage TEXT NOT NULL,"
     "  exit_code INTEGER NOT NULL,"
     "  duration_ms BIGINT NOT NULL,"
     "  log_path TEXT NOT NULL,"
     "  artifacts_dir TEXT NOT NULL,"
     "  created_ms BIGINT NOT NULL);"
     "CREATE INDEX stage_cache_run ON stage_cache(run_id);"
     "CREATE TABLE watch_positions ("
     "  repo TEXT NOT NULL,"
     "  branch TEXT NOT NULL,"
     "  commit_id TEXT NOT NULL,"
     "  updated_ms BIGINT NOT NULL,"
     "  PRIMARY KEY (repo, branch));"},
    {"0101-environments",
     "CREATE TABLE promotions ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  kind TEXT NOT NULL,"  // promote | rollback
     "  project TEXT NOT NULL,"
     "  image TEXT NOT NULL,"
     "  environment TEXT NOT NULL,"
     "  digest TEXT NOT NULL,"
     "  replaced_digest TEXT NOT NULL,"   // what the event moved the pointer away from
     "  pointer_previous TEXT NOT NULL,"  // the rollback target after the event
     "  commit_id TEXT NOT NULL,"
     "  run_id TEXT NOT NULL,"
     "  time_ms BIGINT NOT NULL);"
     "CREATE INDEX promotions_target ON promotions(project, image, environment, digest);"
     "CREATE INDEX promotions_run ON promotions(run_id);"
     "CREATE TABLE environments ("
     "  project TEXT NOT NULL,"
     "  image TEXT NOT NULL,"
     "  environment TEXT NOT NULL,"
     "  digest TEXT NOT NULL,"
     "  commit_id TEXT NOT NULL,"
     "  run_id TEXT NOT NULL,"
     "  time_ms BIGINT NOT NULL,"
     "  previous_digest TEXT NOT NULL,"
     "  event_id BIGINT NOT NULL REFERENCES promotions(id),"
     "  PRIMARY KEY (project, image, environment));"},
    {"0200-step-cache",
     "CREATE TABLE step_cache ("
     "  seq BIGSERIAL NOT NULL,"
     "  key TEXT PRIMARY KEY,"  // sha256 hex (cache/step_key.h)
     "  record TEXT NOT NULL,"
     "  layer_digest TEXT,"  // NULL for config-only steps
     "  layer_diff_id TEXT,"
     "  layer_size BIGINT,"
     "  layer_media_type TEXT,"
     "  config_change TEXT NOT NULL,"
     "  image TEXT NOT NULL,"
     "  step_index INTEGER NOT NULL,"
     "  created BIGINT NOT NULL);"
     "CREATE INDEX step_cache_position ON step_cache(image, step_index);"
     "CREATE TABLE image_builds ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  image TEXT NOT NULL,"
     "  manifest_digest TEXT NOT NULL,"
     "  step_keys TEXT NOT NULL,"  // JSON array of hex keys
     "  created BIGINT NOT NULL,"
     "  image_key TEXT);"
     "CREATE INDEX image_builds_image ON image_builds(image, id);"
     "CREATE INDEX image_builds_key ON image_builds(image_key);"
     "CREATE TABLE step_cache_deferred ("
     "  key TEXT PRIMARY KEY,"  // sha256:<hex>
     "  entry TEXT NOT NULL,"
     "  registry TEXT NOT NULL,"
     "  repository TEXT NOT NULL,"
     "  insecure BOOLEAN NOT NULL,"
     "  created BIGINT NOT NULL);"},
    // The fleet's job queue and its agents (pg_queue.h).
    {"0300-jobs",
     "CREATE SEQUENCE job_tokens;"  // fencing tokens: one per claim, never reused
     "CREATE TABLE jobs ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  run_id TEXT NOT NULL,"
     "  name TEXT NOT NULL,"
     "  payload TEXT NOT NULL,"
     "  needs TEXT[] NOT NULL,"
     "  labels TEXT[] NOT NULL,"  // runs_on: the agent needs every one
     "  state TEXT NOT NULL,"     // waiting | queued | claimed | passed | failed | skipped
     "  attempts INTEGER NOT NULL DEFAULT 0,"
     "  max_attempts INTEGER NOT NULL,"
     "  agent TEXT NOT NULL DEFAULT '',"
     "  token BIGINT NOT NULL DEFAULT 0,"  // the current claim's fencing token
     "  lease_until_ms BIGINT NOT NULL DEFAULT 0,"
     "  result TEXT NOT NULL DEFAULT '',"
     "  queued_ms BIGINT NOT NULL,"
     "  claimed_ms BIGINT NOT NULL DEFAULT 0,"
     "  finished_ms BIGINT NOT NULL DEFAULT 0,"
     "  UNIQUE (run_id, name));"
     "CREATE INDEX jobs_queued ON jobs(id) WHERE state = 'queued';"
     "CREATE INDEX jobs_run_state ON jobs(run_id, state);"
     "CREATE INDEX jobs_claimed ON jobs(lease_until_ms) WHERE state = 'claimed';"
     "CREATE TABLE agents ("
     "  name TEXT PRIMARY KEY,"
     "  labels TEXT[] NOT NULL,"
     "  heartbeat_ms BIGINT NOT NULL,"
     "  started_ms BIGINT NOT NULL);"},
    // Refused promotions (cache/metadata.h, Metadata::refuse): an event of kind
    // "refused" that moved no pointer, with the rule that failed and why.
    {"0102-promotion-refusals",
     "ALTER TABLE promotions ADD COLUMN reason TEXT NOT NULL DEFAULT '';"},
    // Stage logs shipped by the fleet's agents as they are written (pg_logs.h).
    {"0301-stage-logs",
     "CREATE TABLE stage_log_chunks ("
     "  run_id TEXT NOT NULL,"
     "  stage TEXT NOT NULL,"
     "  attempt INTEGER NOT NULL,"  // the queue's attempt: a rerun elsewhere starts a new log
     "  seq INTEGER NOT NULL,"
     "  chunk BYTEA NOT NULL,"
     "  PRIMARY KEY (run_id, stage, attempt, seq));"},
};

// Every gantry process migrating one database at once takes turns on this
// transaction-scoped advisory lock (an arbitrary constant: "gantry" in ASCII).
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(113723460120441)";

}  // namespace

std::vector<std::string> known_migrations() {
  std::vector<std::string> out;
  for (const auto& m : kMigrations) out.emplace_back(m.id);
  return out;
}

Status migrate(PgConn& conn) {
  return conn.transaction([&]() -> Status {
    TRY(conn.exec(kMigrationLock));
    TRY(conn.exec("CREATE TABLE IF NOT EXISTS gantry_schema (id TEXT PRIMARY KEY, applied_ms BIGINT NOT NULL)"));
    auto applied_rows = TRY(conn.exec("SELECT id FROM gantry_schema ORDER BY id"));
    std::vector<std::string> applied;
    for (int i = 0; i < applied_rows.size(); ++i) applied.push_back(applied_rows.text(i, 0));
    const auto known = known_migrations();
    for (const auto& id : applied)
      if (std::find(known.begin(), known.end(), id) == known.end())
        return fail(ErrorKind::conflict, "PostgreSQL database " + conn.masked_url() +
                                             " has a newer schema than this gantry knows (unknown migration " + id +
                                             "; this gantry knows up to " + known.back() +
                                             "): use the newer gantry that wrote it");
    for (const auto& m : kMigrations) {
      if (std::find(applied.begin(), applied.end(), m.id) != applied.end()) continue;
      TRY_CTX(conn.exec_script(m.sql), std::string("applying migration ") + m.id);
      TRY(conn.exec("INSERT INTO gantry_schema (id, applied_ms)"
                    " VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
                    {m.id}));
    }
    return {};
  });
}

}  // namespace gantry::pgstore
