// The store: one directory (see store_paths.h) holding blobs, unpacked layers,
// meta.db and scratch space. Store::open creates the layout on first use,
// takes the store-wide lock (shared: many writers; exclusive: gc), opens this
// process's scratch dir under tmp/ and sweeps the scratch of dead processes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/blob_store.h"
#include "cache/meta_db.h"
#include "cache/store_paths.h"
#include "common/clock.h"
#include "common/file_util.h"
#include "common/unique_fd.h"

namespace gantry::cache {

class ImageStore;
class Metadata;

// Limits on what goes into the store. A plain option: the runner fills it
// from its configuration (runner_config.h, max_layer_size).
struct StoreOptions {
  // Uncompressed bytes of one layer (the tar stream, and the sizes its entries
  // declare: a sparse 64 GiB file counts as 64 GiB) on import, pull and unpack.
  std::uint64_t max_layer_bytes = 8ull << 30;
};

enum class StoreLock {
  shared,     // every command that reads or writes (gc waits for them)
  exclusive,  // gc: nobody else is in the store
};

enum class StoreScratch {
  session,  // this process's scratch dir under tmp/, and sweep the dead ones' (default)
  none,     // no sweep, and the scratch dir only on the first make_temp_dir():
            // for short readers on a hot path (gantry exec)
};

class Store {
 public:
  static Result<std::unique_ptr<Store>> open(const std::string& dir, StoreLock lock = StoreLock::shared,
                                             StoreScratch scratch = StoreScratch::session);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const StorePaths& paths() const { return paths_; }
  const std::string& root() const { return paths_.root(); }
  // The local index of blobs and layers (tags, layers, gc roots, fsck).
  MetaDb& db() { return *db_; }
  // Runs, stage results, environments, promotions, step and stage cache
  // (metadata.h): SQLite's meta.db unless set_metadata() put another there.
  Metadata& metadata() { return *metadata_; }
  void set_metadata(std::unique_ptr<Metadata> metadata);
  // Closes meta.db (and the metadata on it) for a command that needs nothing
  // more of it but keeps the store open, its lock held (the layers it uses
  // stay safe from gc): `gantry exec` lives as long as its container, and the
  // connection's page cache, schema and statements were ~150 KB of each
  // (ci/bench-density). db(), metadata() and images() must not be used after.
  void close_metadata();
  const BlobStore& blobs() const { return blobs_; }
  ImageStore& images();

  // This process's scratch dir (tmp/<session>/): same filesystem as blobs/
  // and layers/, removed when the Store closes, swept by the next command
  // if this process dies. Empty before make_temp_dir() with StoreScratch::none.
  const std::string& tmp_dir() const { return tmp_dir_; }
  // A fresh directory inside tmp_dir(), removed when the TempDir dies.
  Result<TempDir> make_temp_dir(std::string_view prefix = "work-") const;

  // Removes the scratch dirs of processes that no longer hold their lock.
  // Returns how many were removed. Store::open calls it.
  Result<int> sweep_tmp() const;

  StoreLock lock_mode() const { return lock_mode_; }

  // What Store::open found wrong with the modes of the store's dirs (and
  // fixed when it could): one line each, for fsck (store_modes.h).
  const std::vector<std::string>& mode_findings() const { return mode_findings_; }

  // Ingest limits (the runner's configuration passes them down; defaults below).
  const StoreOptions& options() const { return options_; }
  void set_options(const StoreOptions& options) { options_ = options; }

  // The clock every time the store records comes from (run ids and times,
  // promotion times, tag and cache-entry times): common/clock.h. Tests set a
  // FakeClock; it must outlive the store.
  const Clock& clock() const { return *clock_; }
  void set_clock(const Clock& clock) { clock_ = &clock; }

 private:
  explicit Store(std::string root);
  Status start_session() const;  // creates tmp_dir() (lazily with StoreScratch::none)
  StorePaths paths_;
  UniqueFd store_lock_;
  mutable UniqueFd session_lock_;
  mutable std::string session_;
  mutable std::string tmp_dir_;
  std::unique_ptr<MetaDb> db_;
  std::unique_ptr<Metadata> metadata_;
  mutable BlobStore blobs_;
  std::unique_ptr<ImageStore> images_;
  StoreLock lock_mode_ = StoreLock::shared;
  std::vector<std::string> mode_findings_;
  StoreOptions options_;
  const Clock* clock_ = &system_clock();
};

}  // namespace gantry::cache
