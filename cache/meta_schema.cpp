// The meta.db schema, written down once. Each module of cache/ appends its own
// migration block (a never-reused id + SQL) and, for every table that points
// at blobs, a gc root query. Never edit an applied migration: add a new one.
// The schema version is the number of migrations (PRAGMA user_version).
#include "cache/meta_db.h"

namespace gantry::cache {

namespace {

constexpr Migration kMigrations[] = {
    // Tags: NAME:TAG -> manifest digest.
    {"0001-tags",
     "CREATE TABLE tags ("
     "  name TEXT NOT NULL,"
     "  tag TEXT NOT NULL,"
     "  digest TEXT NOT NULL,"        // manifest digest, sha256:<hex>
     "  updated INTEGER NOT NULL,"    // unix seconds
     "  PRIMARY KEY (name, tag));"
     "CREATE INDEX tags_digest ON tags(digest);"},
    // Layer blobs gantry knows: compressed digest -> uncompressed diff_id.
    {"0002-layers",
     "CREATE TABLE layers ("
     "  digest TEXT PRIMARY KEY,"
     "  diff_id TEXT NOT NULL,"
     "  size INTEGER NOT NULL,"
     "  media_type TEXT NOT NULL);"
     "CREATE INDEX layers_diff_id ON layers(diff_id);"},
    // Runs (cache/sqlite_metadata.h): one row per `gantry run`, its images, its
    // stage results, the stage-result cache and each `gantry watch` position.
    // Times are unix milliseconds. Never holds a secret value.
    {"0100-runs",
     "CREATE TABLE runs ("
     "  id TEXT PRIMARY KEY,"
     "  repo TEXT NOT NULL,"
     "  rev TEXT NOT NULL,"
     "  commit_id TEXT NOT NULL,"
     "  pipeline_file TEXT NOT NULL,"
     "  pipeline_digest TEXT NOT NULL,"
     "  status TEXT NOT NULL,"               // running | passed | failed | waiting | interrupted
     "  waiting_environment TEXT NOT NULL,"  // the manual gate a waiting run stopped at
     "  error TEXT NOT NULL,"
     "  started_ms INTEGER NOT NULL,"
     "  finished_ms INTEGER NOT NULL);"
     "CREATE INDEX runs_started ON runs(started_ms);"
     "CREATE TABLE run_images ("
     "  run_id TEXT NOT NULL,"
     "  image TEXT NOT NULL,"
     "  digest TEXT NOT NULL,"               // manifest digest
     "  built INTEGER NOT NULL,"             // 1: built from the pipeline file
     "  PRIMARY KEY (run_id, image));"
     "CREATE INDEX run_images_image ON run_images(image);"
     "CREATE TABLE stage_results ("
     "  run_id TEXT NOT NULL,"
     "  stage TEXT NOT NULL,"
     "  environment TEXT NOT NULL,"
     "  image TEXT NOT NULL,"
     "  digest TEXT NOT NULL,"
     "  status TEXT NOT NULL,"               // pending | running | passed | failed | skipped | interrupted
     "  cached INTEGER NOT NULL,"
     "  cached_from TEXT NOT NULL,"
     "  exit_code INTEGER NOT NULL,"
     "  duration_ms INTEGER NOT NULL,"
     "  attempts INTEGER NOT NULL,"
     "  allow_failure INTEGER NOT NULL,"
     "  detail TEXT NOT NULL,"
     "  cache_key TEXT NOT NULL,"
     "  log_path TEXT NOT NULL,"
     "  artifacts_dir TEXT NOT NULL,"
     "  started_ms INTEGER NOT NULL,"
     "  PRIMARY KEY (run_id, stage));"
     "CREATE TABLE stage_cache ("
     "  key TEXT PRIMARY KEY,"               // sha256 of the stage-key record (runner/stage_key.h)
     "  record TEXT NOT NULL,"               // that record, JSON
     "  run_id TEXT NOT NULL,"
     "  stage TEXT NOT NULL,"
     "  exit_code INTEGER NOT NULL,"
     "  duration_ms INTEGER NOT NULL,"
     "  log_path TEXT NOT NULL,"
     "  artifacts_dir TEXT NOT NULL,"
     "  created_ms INTEGER NOT NULL);"
     "CREATE TABLE watch_positions ("
     "  repo TEXT NOT NULL,"
     "  branch TEXT NOT NULL,"
     "  commit_id TEXT NOT NULL,"
     "  updated_ms INTEGER NOT NULL,"
     "  PRIMARY KEY (repo, branch));"},
    // Environments (cache/sqlite_metadata.h): the digest of each image in
    // each environment, and every promotion/rollback event.
    {"0101-environments",
     "CREATE TABLE environments ("
     "  image TEXT NOT NULL,"
     "  environment TEXT NOT NULL,"
     "  digest TEXT NOT NULL,"
     "  commit_id TEXT NOT NULL,"
     "  run_id TEXT NOT NULL,"
     "  time_ms INTEGER NOT NULL,"
     "  previous_digest TEXT NOT NULL,"      // what a rollback restores
     "  event_id INTEGER NOT NULL,"          // the promotions row that set it
     "  PRIMARY KEY (image, environment));"
     "CREATE TABLE promotions ("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  kind TEXT NOT NULL,"                 // promote | rollback
     "  image TEXT NOT NULL,"
     "  environment TEXT NOT NULL,"
     "  digest TEXT NOT NULL,"
     "  replaced_digest TEXT NOT NULL,"
     "  pointer_previous TEXT NOT NULL,"
     "  commit_id TEXT NOT NULL,"
     "  run_id TEXT NOT NULL,"
     "  time_ms INTEGER NOT NULL);"
     "CREATE INDEX promotions_image ON promotions(image, environment, id);"
     "CREATE INDEX promotions_run ON promotions(run_id);"},
    // The build step cache (cache/step_cache.h): step key -> its record, the
    // layer it made (NULL for config-only steps) and its config change; and
    // the step keys of each image build, for --explain.
    {"0200-step-cache",
     "CREATE TABLE step_cache ("
     "  key TEXT PRIMARY KEY,"              // sha256 hex of the record (step_key.h)
     "  record TEXT NOT NULL,"              // the step-key record, JSON
     "  layer_digest TEXT,"                 // sha256:<hex> of the layer blob, or NULL
     "  layer_diff_id TEXT,"
     "  layer_size INTEGER,"
     "  layer_media_type TEXT,"
     "  config_change TEXT NOT NULL,"       // JSON {"env": [[K,V]...], "workdir", "user"}
     "  image TEXT NOT NULL,"               // image name and step index that made it
     "  step_index INTEGER NOT NULL,"
     "  created INTEGER NOT NULL);"         // unix seconds
     "CREATE INDEX step_cache_position ON step_cache(image, step_index, created);"
     "CREATE TABLE image_builds ("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  image TEXT NOT NULL,"
     "  manifest_digest TEXT NOT NULL,"
     "  step_keys TEXT NOT NULL,"           // JSON array of key hex, one per step
     "  created INTEGER NOT NULL);"
     "CREATE INDEX image_builds_image ON image_builds(image, id);"},
    {"0201-image-key",
     "ALTER TABLE image_builds ADD COLUMN image_key TEXT;"   // hex, see cache/step_cache.h
     "CREATE INDEX image_builds_key ON image_builds(image_key);"},
    // Run details (cache/sqlite_metadata.h): where the repository is fetched from,
    // the time a cached stage took when it first ran, every build step of a
    // run (with its log), and how each manual gate was passed.
    {"0102-run-details",
     "ALTER TABLE runs ADD COLUMN repo_url TEXT NOT NULL DEFAULT '';"      // the remote's URL, "" when none
     "ALTER TABLE stage_results ADD COLUMN original_ms INTEGER NOT NULL DEFAULT 0;"  // cached: the first run's time
     "CREATE TABLE run_build_steps ("
     "  run_id TEXT NOT NULL,"
     "  image TEXT NOT NULL,"
     "  step_index INTEGER NOT NULL,"       // 1-based, as `build` prints it
     "  kind TEXT NOT NULL,"                // run | copy | env | workdir | user
     "  step TEXT NOT NULL,"                // "run: make", "copy . /src"
     "  key TEXT NOT NULL,"                 // the step key, sha256:<hex>
     "  status TEXT NOT NULL,"              // passed | failed
     "  cached INTEGER NOT NULL,"
     "  duration_ms INTEGER NOT NULL,"
     "  log_path TEXT NOT NULL,"            // "" for a cached or config-only step
     "  detail TEXT NOT NULL,"              // why it failed / what it hit
     "  PRIMARY KEY (run_id, image, step_index));"
     "CREATE TABLE run_gates ("
     "  run_id TEXT NOT NULL,"
     "  environment TEXT NOT NULL,"
     "  how TEXT NOT NULL,"                 // promoted | already-there
     "  detail TEXT NOT NULL,"
     "  time_ms INTEGER NOT NULL,"
     "  PRIMARY KEY (run_id, environment));"},
    // Where blobs are known to live in registries (registry/blob_locations.h):
    // a push mounts a blob from another repository of the same registry
    // instead of uploading it. IF NOT EXISTS: stores from before this
    // migration created the table on first use.
    {"0300-registry-blobs",
     "CREATE TABLE IF NOT EXISTS registry_blobs ("
     "  registry TEXT NOT NULL,"
     "  repository TEXT NOT NULL,"
     "  digest TEXT NOT NULL,"
     "  updated INTEGER NOT NULL,"    // unix seconds
     "  PRIMARY KEY (registry, digest, repository));"},
    // The run a `gantry retry` retries ("" for other runs).
    {"0103-run-retry-of", "ALTER TABLE runs ADD COLUMN retry_of TEXT NOT NULL DEFAULT '';"},
    // The shared step cache, pulled lazily (registry/step_cache_share.h): an
    // entry whose layer blob is not local waits here, with where to fetch it,
    // until a build hits its key; only then is the layer fetched and the
    // entry moved into step_cache (whose rows always have their blob).
    {"0301-step-cache-deferred",
     "CREATE TABLE step_cache_deferred ("
     "  key TEXT PRIMARY KEY,"          // sha256:<hex> step key
     "  entry TEXT NOT NULL,"           // the entry as the cache artifact holds it, JSON
     "  registry TEXT NOT NULL,"        // HOST[:PORT]
     "  repository TEXT NOT NULL,"
     "  insecure INTEGER NOT NULL,"     // pulled with --insecure-registry for that host
     "  created INTEGER NOT NULL);"},   // unix seconds
    // Projects (cache/sqlite_metadata.h, cache/sqlite_metadata.h): runs,
    // environment pointers and promotion events belong to the project of the
    // repository they came from. Existing rows move into the project derived
    // from their run's repository (gantry_project(repo_url, repo), registered
    // by meta_db.cpp); pointers and events whose run is gone keep project ''.
    {"0104-projects",
     "ALTER TABLE runs ADD COLUMN project TEXT NOT NULL DEFAULT '';"
     "UPDATE runs SET project = gantry_project(repo_url, repo);"
     "CREATE INDEX runs_project ON runs(project, started_ms);"
     "ALTER TABLE promotions ADD COLUMN project TEXT NOT NULL DEFAULT '';"
     "UPDATE promotions SET project = COALESCE((SELECT r.project FROM runs r WHERE r.id = promotions.run_id), '');"
     "DROP INDEX promotions_image;"
     "CREATE INDEX promotions_project ON promotions(project, image, environment, id);"
     "CREATE TABLE environments_by_project ("
     "  project TEXT NOT NULL,"
     "  image TEXT NOT NULL,"
     "  environment TEXT NOT NULL,"
     "  digest TEXT NOT NULL,"
     "  commit_id TEXT NOT NULL,"
     "  run_id TEXT NOT NULL,"
     "  time_ms INTEGER NOT NULL,"
     "  previous_digest TEXT NOT NULL,"
     "  event_id INTEGER NOT NULL,"
     "  PRIMARY KEY (project, image, environment));"
     "INSERT INTO environments_by_project (project, image, environment, digest, commit_id, run_id, time_ms,"
     "  previous_digest, event_id)"
     " SELECT COALESCE((SELECT r.project FROM runs r WHERE r.id = e.run_id), ''), e.image, e.environment,"
     "  e.digest, e.commit_id, e.run_id, e.time_ms, e.previous_digest, e.event_id FROM environments e;"
     "DROP TABLE environments;"
     "ALTER TABLE environments_by_project RENAME TO environments;"},
    // Build tags per project (cache/image_store.h, TagScope): `gantry build`
    // and `gantry run` tag NAME:<short> and NAME:latest in the pipeline's
    // project, so two repositories that both build `app` keep their own tags.
    // Tags made by import, pull and `image tag` are store-wide (project '');
    // every existing tag stays store-wide.
    {"0105-tag-projects",
     "CREATE TABLE tags_by_project ("
     "  project TEXT NOT NULL DEFAULT '',"
     "  name TEXT NOT NULL,"
     "  tag TEXT NOT NULL,"
     "  digest TEXT NOT NULL,"
     "  updated INTEGER NOT NULL,"
     "  PRIMARY KEY (project, name, tag));"
     "INSERT INTO tags_by_project (project, name, tag, digest, updated)"
     " SELECT '', name, tag, digest, updated FROM tags;"
     "DROP TABLE tags;"
     "ALTER TABLE tags_by_project RENAME TO tags;"
     "CREATE INDEX tags_digest ON tags(digest);"
     "CREATE INDEX tags_name ON tags(name, tag);"},
    // The run queue of `gantry serve` (cache/run_queue.h): runs requested by
    // webhook or API wait here in request order; a delivery id is unique per
    // forge so a redelivered webhook finds the entry it queued.
    {"0106-serve-queue",
     "CREATE TABLE serve_queue ("
     "  id TEXT PRIMARY KEY,"               // the run's id once it runs
     "  seq INTEGER NOT NULL,"              // request order
     "  kind TEXT NOT NULL,"                // run | retry
     "  repo_name TEXT NOT NULL,"
     "  repo TEXT NOT NULL,"
     "  rev TEXT NOT NULL,"
     "  branch TEXT NOT NULL,"
     "  commit_id TEXT NOT NULL,"
     "  subject TEXT NOT NULL,"
     "  project TEXT NOT NULL,"
     "  retry_of TEXT NOT NULL,"
     "  source TEXT NOT NULL,"              // api | github | gitea | gitlab | retry
     "  delivery TEXT NOT NULL,"            // the forge's delivery id, or ''
     "  state TEXT NOT NULL,"               // queued | running | done | cancelled | interrupted
     "  error TEXT NOT NULL,"
     "  requested_ms INTEGER NOT NULL,"
     "  started_ms INTEGER NOT NULL,"
     "  finished_ms INTEGER NOT NULL,"
     "  pid INTEGER NOT NULL);"
     "CREATE INDEX serve_queue_state ON serve_queue(state, seq);"
     "CREATE INDEX serve_queue_commit ON serve_queue(repo_name, commit_id);"
     "CREATE UNIQUE INDEX serve_queue_delivery ON serve_queue(source, delivery) WHERE delivery != '';"},
    // Refused promotions (cache/metadata.h, Metadata::refuse): an event of kind
    // "refused" that moved no pointer, with the rule that failed and why.
    {"0107-promotion-refusals",
     "ALTER TABLE promotions ADD COLUMN reason TEXT NOT NULL DEFAULT '';"},
    // Other modules add their blocks below (step_cache, runs, stage_results,
    // environments, promotions, ...).
};

constexpr GcRoot kGcRoots[] = {
    {"tags", "SELECT digest FROM tags"},
    {"environments", "SELECT digest FROM environments"},
    {"promotions", "SELECT digest FROM promotions WHERE kind != 'refused'"},  // rollback targets
    {"recent runs", "SELECT digest FROM run_images WHERE run_id IN (SELECT id FROM runs ORDER BY started_ms DESC LIMIT 100)"},
    {"step_cache", "SELECT layer_digest FROM step_cache WHERE layer_digest IS NOT NULL"},
    // Other modules add one line per table that references images or blobs.
};

}  // namespace

MigrationList schema_migrations() { return {kMigrations, std::size(kMigrations)}; }
GcRootList gc_roots() { return {kGcRoots, std::size(kGcRoots)}; }

}  // namespace gantry::cache
