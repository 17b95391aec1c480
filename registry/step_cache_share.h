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
//
// Imports are lazy: an entry whose layer blob the store lacks is not fetched
// at import; it is kept in meta.db's step_cache_deferred with the registry it
// came from, and the layer is fetched (and verified) only when a build hits
// its key (resolve_deferred_entry). A build that never reaches a step never
// downloads its layer.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "cache/step_cache.h"
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
  std::size_t entries_added = 0;   // new keys in the local step cache (deferred ones included)
  std::size_t entries_known = 0;   // keys the store already had
  std::size_t layers_fetched = 0;  // layer blobs downloaded
  std::size_t entries_deferred = 0;  // new keys whose layer is fetched when a build hits them
  TransferCounts counts;
};

// Reads every cache artifact of REPO into the store's step cache. New entries
// whose layer the store holds (or that have none) are added at once; the
// others are deferred, their layers fetched only when a build hits them.
Result<CacheImportResult> import_step_cache(cache::Store& store, const std::string& repository,
                                            const RegistryOptions& options);

// A build's step-cache miss on `key`: when a deferred entry has that key, its
// layer is fetched from the registry it came from, verified and recorded, the
// entry joins the local step cache and is returned; nullopt when none is
// deferred. `options` gives credentials, CA and timeouts (a host that was
// pulled with --insecure-registry stays insecure for its entries).
Result<std::optional<cache::StepCacheEntry>> resolve_deferred_entry(cache::Store& store, const Digest& key,
                                                                    RegistryOptions options);

// A fleet's build (runner/fleet_job.cpp): `entry` is in the shared step cache
// (PostgreSQL) but its layer is not in this store: the blob is fetched from
// REPOSITORY (HOST[:PORT]/REPO: the repository the image that made it was
// pushed to), verified against the entry's diff_id (a forged layer is removed,
// never recorded) and recorded. An error when the registry lacks it.
Status fetch_step_layer(cache::Store& store, const cache::StepCacheEntry& entry, const std::string& repository,
                        RegistryOptions options);

}  // namespace gantry::registry
