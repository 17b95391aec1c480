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
    // Other modules add their blocks below (step_cache, runs, stage_results,
    // environments, promotions, ...).
};

constexpr GcRoot kGcRoots[] = {
    {"tags", "SELECT digest FROM tags"},
    // Other modules add one line per table that references images or blobs.
};

}  // namespace

MigrationList schema_migrations() { return {kMigrations, std::size(kMigrations)}; }
GcRootList gc_roots() { return {kGcRoots, std::size(kGcRoots)}; }

}  // namespace gantry::cache
