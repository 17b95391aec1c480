// Helpers for the cache tests: a store in a scratch dir, tar files with any
// (also malicious) entries written with libarchive, and tree snapshots.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cache/store.h"
#include "tests/support/test_support.h"

namespace gantry::cache::testing {

struct TarEntry {
  std::string name;
  char type = 'f';  // f file, d dir, l symlink, h hardlink, c char device
  std::string data;  // file content, or link target
  mode_t mode = 0644;
  unsigned major = 0, minor = 0;
};

// Writes a tar (gzip'd when gzip) holding exactly these entries, in order.
void write_tar(const std::string& path, const std::vector<TarEntry>& entries, bool gzip = false);

// Opens (creating) a store at dir; fails the test on error.
std::unique_ptr<Store> open_store(const std::string& dir, StoreLock lock = StoreLock::shared);

// path -> "type mode uid:gid size/target sha256" for every entry under dir
// (not dir itself); mtimes left out unless with_mtime.
std::map<std::string, std::string> snapshot_tree(const std::string& dir, bool with_mtime = false);

// Every file name under the store's blobs/ and layers/ plus the tags table:
// equal snapshots = the store did not change.
std::string snapshot_store(const std::string& store_dir);

// Writes a one-layer OCI image layout at dir by hand: the layer blob is the
// file at layer_path as it is (whatever its bytes), declared with media_type
// and, in the config, with diff_id (true or forged). Returns the manifest
// digest.
std::string write_oci_layout(const std::string& dir, const std::string& layer_path, const std::string& media_type,
                             const std::string& diff_id);

// Writes a small mixed tree (dirs, files, symlink, hardlink, empty file, exec).
void make_sample_tree(const std::string& dir);

}  // namespace gantry::cache::testing
