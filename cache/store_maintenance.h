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

struct FsckReport {
  std::uint64_t blobs_checked = 0;
  std::uint64_t references_checked = 0;
  std::vector<std::string> faults;  // one line each, naming the blob/tag/row
  bool ok() const { return faults.empty(); }
};
Result<FsckReport> check_store(Store& store);

// Every digest the gc root queries return right now.
Result<std::vector<Digest>> gc_root_digests(Store& store);

}  // namespace gantry::cache
