// OCI 1.1 referrers (cache/referrers.h) moved with their image (private to
// registry/; push.cpp and pull.cpp call it).
//
// Push: every referrer of the image in the store, blobs first, then its
// manifest by digest. A registry with the referrers API answers the PUT with
// an OCI-Subject header and indexes it itself; for one without (Debian's
// docker-registry 2.8), the referrers tag schema of the distribution spec:
// the image index tagged `sha256-<subject hex>` lists every referrer, so it
// is read, merged with the new descriptors, and written back.
//
// Pull: GET /v2/<repo>/referrers/<digest>; on 404 the `sha256-<hex>` tag.
// Each referrer manifest is fetched by digest (verified), must name the
// image as its subject, and its blobs (at most kMaxReferrerBlob bytes each)
// are fetched and verified before it is recorded.
#pragma once

#include "cache/store.h"
#include "common/digest.h"
#include "registry/progress.h"
#include "registry/reference.h"
#include "registry/registry_client.h"

namespace gantry::registry {

inline constexpr std::uint64_t kMaxReferrerBlob = 16u << 20;

// The number of referrers pushed.
Result<int> push_referrers(cache::Store& store, RegistryClient& client, const RegistryRef& dest,
                           const Digest& subject, Progress& progress);
// The number of referrers now in the store for `subject` that came from the registry.
Result<int> pull_referrers(cache::Store& store, RegistryClient& client, const RegistryRef& ref,
                           const Digest& subject, Progress& progress);

// "sha256-<hex>": the referrers tag schema's tag for a subject.
std::string referrers_tag(const Digest& subject);

}  // namespace gantry::registry
