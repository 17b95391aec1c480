// Opening the store for a command that may ingest images or layers: the
// runner's configuration (runner_config.h) sets the store's ingest limits
// (max_layer_size -> StoreOptions::max_layer_bytes). A configuration that
// does not load is an error: the runner does not run on defaults it was not given.
// With --db / GANTRY_DB (GlobalOptions::db_url) the store's record is
// PostgreSQL's (pgstore::PgMetadata) instead of meta.db: its blobs, layers and
// logs stay local. A database that cannot be reached is an error, never a
// silent fall-back to meta.db.
#pragma once

#include <memory>

#include "cache/store.h"
#include "runner/cli.h"
#include "runner/runner_config.h"

namespace gantry::runner {

Result<std::unique_ptr<cache::Store>> open_store(const GlobalOptions& global,
                                                 cache::StoreLock lock = cache::StoreLock::shared);
// Puts --db's PostgreSQL record behind store.metadata() (nothing without --db).
Status use_database(cache::Store& store, const GlobalOptions& global);
// The same with a configuration the command has loaded already.
Result<std::unique_ptr<cache::Store>> open_store(const GlobalOptions& global, const RunnerConfig& config,
                                                 cache::StoreLock lock = cache::StoreLock::shared);

}  // namespace gantry::runner
