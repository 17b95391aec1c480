#include "runner/deferred_cache.h"

#include "registry/registry_options.h"
#include "registry/step_cache_share.h"

namespace gantry::runner {

std::function<Result<std::optional<cache::StepCacheEntry>>(const Digest&)> deferred_cache_lookup(
    cache::Store& store) {
  return [&store](const Digest& key) {
    return registry::resolve_deferred_entry(store, key, registry::registry_options_from_env());
  };
}

}  // namespace gantry::runner
