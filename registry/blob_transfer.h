// Moving blobs between the store and a repository (private to registry/).
// Push: skipped when the repository has it (HEAD), mounted when another
// repository of the same registry is known to hold it, uploaded otherwise.
// Fetch: streamed into a BlobWriter, size and digest verified, published
// only when both match.
#pragma once

#include <string>
#include <vector>

#include "cache/store.h"
#include "registry/progress.h"
#include "registry/reference.h"
#include "registry/registry_client.h"

namespace gantry::registry {

struct BlobToPush {
  Digest digest;
  std::uint64_t size;
};

Status push_blob(cache::Store& store, RegistryClient& client, const RegistryRef& dest, const BlobToPush& blob,
                 const std::vector<std::string>& mount_from, Progress& progress);

// push_blob for every blob, `parallel` at a time, with mount candidates from
// the store's blob-location memory; records the locations afterwards.
Status push_blobs(cache::Store& store, RegistryClient& client, const RegistryRef& dest,
                  const std::vector<BlobToPush>& blobs, Progress& progress);

// Streams one blob of ref's repository into the store; `what` ("layer",
// "config") goes into error messages with the reference and digest.
Status fetch_blob(cache::Store& store, RegistryClient& client, const RegistryRef& ref, const Digest& digest,
                  std::uint64_t size, Progress& progress, const std::string& what);

}  // namespace gantry::registry
