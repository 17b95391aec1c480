// Which repositories of which registry are known to hold a blob, so a push
// to another repository of the same registry can mount it instead of
// uploading it (as docker and skopeo remember). Kept in meta.db:
//
//   registry_blobs(registry   TEXT  host as in references, "127.0.0.1:5000"
//                  repository TEXT  "team/base"
//                  digest     TEXT  sha256:<hex>
//                  updated    INTEGER unix seconds
//                  PRIMARY KEY (registry, digest, repository))   -- format 1
//
// Recorded after every blob a push or pull saw present in a repository. A
// stale row only costs one declined mount request. Not a gc root: the blobs
// it names live in registries, not in the store.
#pragma once

#include <string>
#include <vector>

#include "cache/meta_db.h"
#include "common/digest.h"

namespace gantry::registry {

class BlobLocations {
 public:
  // Creates the table when missing.
  static Result<BlobLocations> open(cache::MetaDb& db);

  Status record(const std::string& registry, const std::string& repository, const std::vector<Digest>& digests);
  // Other repositories of `registry` holding `digest`, most recent first.
  Result<std::vector<std::string>> repositories_with(const std::string& registry, const Digest& digest,
                                                     const std::string& except_repository);

 private:
  explicit BlobLocations(cache::MetaDb& db) : db_(&db) {}
  cache::MetaDb* db_;
};

}  // namespace gantry::registry
