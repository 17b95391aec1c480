// Images for the registry tests, made in a store with the cache API: a
// busybox rootfs layer plus a layer of `random_bytes` of random data (so each
// call makes different blobs unless the seed repeats).
#pragma once

#include <string>

#include "common/digest.h"

namespace gantry::testing {

// Creates (and tags as `ref`) a two-layer image in the store at store_dir;
// returns its manifest digest.
Digest make_test_image(const std::string& store_dir, const std::string& ref, std::size_t random_bytes,
                       unsigned seed);

// The manifest digest `ref` resolves to in the store at store_dir, or "" when it does not.
std::string resolve_in_store(const std::string& store_dir, const std::string& ref);

// sha256 of stdout of `skopeo inspect --raw` (the manifest digest as the registry serves it).
std::string skopeo_manifest_digest(const std::string& docker_ref);

}  // namespace gantry::testing
