#include "runner/cache_mounts.h"

#include <algorithm>

namespace gantry::runner {

Result<CacheMounts> acquire_cache_mounts(cache::Store& store, const std::string& project,
                                         const std::vector<pipeline::CacheMount>& caches,
                                         const std::function<void(const std::string&)>& on_wait,
                                         std::stop_token stop) {
  CacheMounts out;
  std::vector<const pipeline::CacheMount*> sorted;
  for (const auto& c : caches) sorted.push_back(&c);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->name < b->name; });
  cache::CacheDirs dirs(store.paths());
  for (const auto* c : sorted) {
    cache::CacheSharing sharing = c->sharing == pipeline::CacheSharing::shared     ? cache::CacheSharing::shared
                                  : c->sharing == pipeline::CacheSharing::private_ ? cache::CacheSharing::private_
                                                                                   : cache::CacheSharing::locked;
    auto lease = dirs.acquire(project, c->name, sharing, on_wait, stop);
    if (!lease) return fail(lease.error().context("cache " + c->name));
    out.mounts.push_back({lease->data_dir, c->path, false});
    out.leases.push_back(std::move(*lease));
  }
  return out;
}

}  // namespace gantry::runner
