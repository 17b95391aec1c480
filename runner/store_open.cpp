#include "runner/store_open.h"

#include "pgstore/pg_metadata.h"

namespace gantry::runner {

Status use_database(cache::Store& store, const GlobalOptions& global) {
  if (global.db_url.empty()) return {};
  store.set_metadata(TRY_CTX(pgstore::PgMetadata::connect(global.db_url, store.clock()), "--db"));
  return {};
}

Result<std::unique_ptr<cache::Store>> open_store(const GlobalOptions& global, cache::StoreLock lock) {
  RunnerConfig config = TRY(load_runner_config(global.runner_config));
  return open_store(global, config, lock);
}

Result<std::unique_ptr<cache::Store>> open_store(const GlobalOptions& global, const RunnerConfig& config,
                                                 cache::StoreLock lock) {
  auto store = TRY(cache::Store::open(global.store_dir, lock));
  cache::StoreOptions options;
  options.max_layer_bytes = config.max_layer_bytes;
  store->set_options(options);
  TRY(use_database(*store, global));
  return store;
}

}  // namespace gantry::runner
