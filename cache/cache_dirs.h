// Cache directories: persistent directories per project and name that
// stages and run steps mount read-write (`caches:` in .gantry.yml), kept
// under <store>/caches/ (store_paths.h). Nothing in them is ever part of a
// layer or a key. Each instance has a lock file beside its data/:
//   locked   LOCK_EX: one container at a time, the others wait (told why)
//   shared   LOCK_SH: any number at once (only `rm` excludes them)
//   private  LOCK_EX without waiting: a container that finds the cache in use
//            takes the next instance (<name>@2, @3, ...), created empty
// A lease holds the lock for the container's life; its fd closes with the
// process, so a killed runner leaves no lock behind.
#pragma once

#include <cstdint>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "cache/store_paths.h"
#include "common/error.h"
#include "common/unique_fd.h"

namespace gantry::cache {

enum class CacheSharing { locked, shared, private_ };

struct CacheLease {
  std::string data_dir;  // to mount
  std::string instance;  // "ccache", "ccache@2"
  UniqueFd lock;         // held until the lease dies
  bool waited = false;   // another container held it first
};

struct CacheDirInfo {
  std::string project;
  std::string name;      // with the instance suffix for private extra ones ("ccache@2")
  std::string path;      // its data dir
  std::uint64_t bytes = 0;  // disk usage (allocated blocks)
  bool in_use = false;
};

class CacheDirs {
 public:
  explicit CacheDirs(StorePaths paths) : paths_(std::move(paths)) {}

  // The cache `name` of `project`, created empty when new, locked as
  // `sharing` says. `on_wait(message)` is called once before waiting for a
  // lock another container holds; `stop` ends the wait (cancelled).
  Result<CacheLease> acquire(const std::string& project, const std::string& name, CacheSharing sharing,
                             const std::function<void(const std::string&)>& on_wait, std::stop_token stop = {});

  // Every cache of `project` ("" = of every project), sorted.
  Result<std::vector<CacheDirInfo>> list(const std::string& project = "") const;

  // Removes a cache (every instance when `name` has no '@'); busy
  // (EBUSY) when a container uses it. Returns the bytes freed.
  Result<std::uint64_t> remove(const std::string& project, const std::string& name);
  // Removes every cache not in use (gc --caches); the bytes freed.
  Result<std::uint64_t> remove_all();

 private:
  StorePaths paths_;
};

}  // namespace gantry::cache
