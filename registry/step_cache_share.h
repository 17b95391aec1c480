// The shared step cache: step-cache entries published to a registry
// repository as OCI artifacts, so runners with their own stores build with
// each other's cache hits (`--cache-to` / `--cache-from`).
//
// Format, version 1 (kStepCacheArtifactFormat). One export = one OCI image
// manifest in HOST/REPO tagged "gantry-cache-<first 32 hex of its config
// digest>":
//   config     media type application/vnd.gantry.step-cache.v1+json:
//              {"format": 1, "entries": [{"key": "sha256:..", "record": "<step record JSON>",
//                "layer": {"digest", "diff_id", "size", "media_type"} | null,
//                "config_change": "<ConfigChange JSON>", "image": "..", "step_index": N,
//                "created": unix-seconds}, ...]}   sorted by key
//   layers     every layer blob the entries name (sorted by digest), so the
//              registry keeps them and importers fetch them from this repository
// Tags are content-addressed: two runners exporting at once write different
// tags (or the same bytes), never overwrite each other's entries. An import
// reads every gantry-cache-* tag; an entry is added only after its layer blob
// is verified in the store, and never replaces an existing key (first writer
// wins, as in the local cache), so a half-done import leaves only whole entries.
#pragma once

#include <cstddef>
#include <string>

#include "cache/store.h"
#include "registry/registry_client.h"

namespace gantry::registry {

inline constexpr int kStepCacheArtifactFormat = 1;
inline constexpr const char* kStepCacheConfigType = "application/vnd.gantry.step-cache.v1+json";
inline constexpr const char* kStepCacheTagPrefix = "gantry-cache-";

struct CacheExportResult {
  std::string reference;     // HOST/REPO:gantry-cache-<hex>
  Digest manifest_digest;
  std::size_t entries = 0;
  std::size_t layers = 0;
  TransferCounts counts;
};

// Publishes every step-cache entry of the store (whose layer blob, if any,
// is present) to REPO (HOST[:PORT]/REPO; a tag or digest is an error).
Result<CacheExportResult> export_step_cache(cache::Store& store, const std::string& repository,
                                            const RegistryOptions& options);

struct CacheImportResult {
  std::size_t artifacts = 0;       // gantry-cache-* manifests read
  std::size_t entries_added = 0;   // new keys in the local step cache
  std::size_t entries_known = 0;   // keys the store already had
  std::size_t layers_fetched = 0;  // layer blobs downloaded
  TransferCounts counts;
};

// Reads every cache artifact of REPO into the store's step cache, fetching
// the layer blobs of new entries that the store lacks.
Result<CacheImportResult> import_step_cache(cache::Store& store, const std::string& repository,
                                            const RegistryOptions& options);

}  // namespace gantry::registry
