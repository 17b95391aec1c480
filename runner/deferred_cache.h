// The build's hook into the lazily pulled shared step cache
// (registry/step_cache_share.h): on a step-cache miss, a deferred entry with
// that key has its layer fetched from the registry it was pulled from.
#pragma once

#include <functional>
#include <optional>

#include "cache/step_cache.h"
#include "cache/store.h"

namespace gantry::runner {

// A BuildRequest::deferred_cache for `store`, using the registry settings of
// the environment (registry/registry_options.h) and the stored credentials.
std::function<Result<std::optional<cache::StepCacheEntry>>(const Digest&)> deferred_cache_lookup(cache::Store& store);

}  // namespace gantry::runner
