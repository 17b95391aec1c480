// The cache directories (`caches:`) of a stage or a run step as bind mounts:
// each locked as its sharing says (waiting with a message when another
// container holds it) for as long as the CacheMounts lives.
#pragma once

#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "cache/cache_dirs.h"
#include "cache/store.h"
#include "executor/container.h"
#include "pipeline/pipeline.h"

namespace gantry::runner {

struct CacheMounts {
  std::vector<cache::CacheLease> leases;     // hold the locks
  std::vector<executor::BindMount> mounts;  // read-write, at each cache's path
};

// `project` is the runner's (ProjectAccess::project), never the pipeline's
// own `project:` key: a repository cannot name another project's caches.
// Locks are taken in name order, so two containers with the same caches
// never wait on each other in a cycle.
Result<CacheMounts> acquire_cache_mounts(cache::Store& store, const std::string& project,
                                         const std::vector<pipeline::CacheMount>& caches,
                                         const std::function<void(const std::string&)>& on_wait,
                                         std::stop_token stop = {});

}  // namespace gantry::runner
