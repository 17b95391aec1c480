// The public API of registry/: pull an image from a registry into the store,
// push a stored image to a registry. Used by `gantry image pull|push`, by the
// build (`from: HOST/REPO:TAG`) and by promotion (`push: HOST/REPO:TAG`).
#pragma once

#include <string>

#include "cache/store.h"
#include "common/digest.h"
#include "registry/registry_client.h"

namespace gantry::registry {

struct PullResult {
  std::string reference;        // canonical: HOST/REPO:TAG or HOST/REPO@sha256:..
  Digest manifest_digest;       // the image manifest stored (the platform's, for an index)
  bool from_store = false;      // a digest reference already in the store: no request made
  TransferCounts counts;
  int referrers = 0;            // OCI referrers (attestations) of the image fetched with it
};

// Pulls REF (HOST[:PORT]/REPO[:TAG|@sha256:..]) into the store: manifest (OCI
// or Docker schema 2; from an index, the linux/amd64 one), config and layers
// (only the blobs the store lacks, several at once, each verified against its
// digest and size while it streams into the store). The image is then tagged
// under the reference's canonical name, so `image inspect HOST/REPO:TAG`
// finds it. A digest reference whose image is complete in the store is not
// fetched again. On any error nothing partial is published and no tag moves;
// blobs completed before the error stay, so the next pull resumes there.
Result<PullResult> pull_image(cache::Store& store, const std::string& reference, const RegistryOptions& options);

// For `from:`: the manifest digest of REF when the store has it (by tag or
// digest), else pull_image(...).manifest_digest.
Result<Digest> ensure_image(cache::Store& store, const std::string& reference, const RegistryOptions& options);

struct PushResult {
  std::string reference;     // canonical destination
  Digest manifest_digest;    // equals the local manifest digest (same bytes pushed)
  bool tag_only = false;     // the repository already had the manifest: only the tag was written
  TransferCounts counts;
  int referrers = 0;         // OCI referrers (attestations) of the image pushed with it
};

// Pushes the stored image IMAGE (a local reference or sha256:..) to
// DESTINATION (HOST/REPO[:TAG], or HOST/REPO@sha256:.. equal to the image's
// digest). Blobs the repository has are skipped (HEAD), blobs another
// repository of the registry is known to hold are mounted, the rest are
// uploaded (monolithic, or chunked with options.chunk_size); then the
// manifest is PUT with the stored bytes, so the registry digest equals the
// local one. When the repository already holds the manifest, only the tag
// is written (no blob request at all). The image's referrers in the store
// (its attestations) follow it (referrers_transfer.h); a pull brings them too.
Result<PushResult> push_image(cache::Store& store, const std::string& image, const std::string& destination,
                              const RegistryOptions& options);

}  // namespace gantry::registry
