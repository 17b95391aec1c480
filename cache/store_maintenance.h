// gc and fsck over the whole store.
//
// gc keeps every digest returned by a gc root query (meta_schema.cpp,
// gc_roots()) and what it references: a manifest keeps its config and
// layers, a layer blob keeps its unpacked dir. Everything else in blobs/ and
// layers/ is removed. It needs the exclusive store lock.
//
// fsck re-hashes every blob and checks every reference (tags -> manifests ->
// configs and layers, layer records, gc roots, SQLite integrity).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/error.h"

namespace gantry::cache {

class Store;

struct GcReport {
  std::uint64_t blobs_kept = 0;
  std::uint64_t blobs_removed = 0;
  std::uint64_t layers_removed = 0;   // unpacked dirs
  std::uint64_t bytes_freed = 0;      // blob bytes
  int tmp_swept = 0;
};
Result<GcReport> collect_garbage(Store& store, bool dry_run = false);

// Which run records (and their runs/<id>/ files) gc keeps: the newest
// `keep_runs`, every run younger than `keep_days`, and every run still used
// (running, waiting at a gate, named by an environment pointer or by a
// stage-cache entry). Everything else is pruned. Documented in docs/store.md.
struct RetentionRule {
  std::uint64_t keep_runs = 100;
  std::uint64_t keep_days = 30;
};
struct RetentionReport {
  std::uint64_t runs_pruned = 0;
  std::uint64_t runs_kept_in_use = 0;     // past the rule, but still used
  std::uint64_t orphan_dirs_removed = 0;  // runs/<id>/ without a run row
};
// Needs the exclusive store lock (gc holds it).
Result<RetentionReport> prune_runs(Store& store, const RetentionRule& rule, bool dry_run, std::int64_t now_ms);

struct FsckReport {
  std::uint64_t blobs_checked = 0;
  std::uint64_t references_checked = 0;
  std::uint64_t layers_checked = 0;   // unpacked trees compared with their blobs (--deep)
  std::vector<std::string> faults;  // one line each, naming the blob/tag/row
  bool ok() const { return faults.empty(); }
};
Result<FsckReport> check_store(Store& store);

// Every digest the gc root queries return right now.
Result<std::vector<Digest>> gc_root_digests(Store& store);

}  // namespace gantry::cache
