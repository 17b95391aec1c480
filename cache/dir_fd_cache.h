// Private to cache/: the open directories of a tree being unpacked, by path
// below its root, so an entry costs one openat of its parent's last
// component at most instead of one per component (a Debian rootfs has
// ~20,000 entries, most of them 4-6 directories deep; the walk from the root
// was most of the unpacker's syscalls).
//
// Every fd comes from open_dir_beneath (no symlink followed, nothing outside
// the root), relative to a cached ancestor; on any error the walk is redone
// from the root, so the error is the one the whole path gives (naming the
// symlink on the way, as before). The owner calls invalidate() whenever it
// removes a directory: a cached fd must never stand for a name that now
// holds something else (the fds go at the next open(), so the one in use
// stays valid until then; invalidate() may be called from any thread).
// The fds are shared: whoever still needs one after the next open() (a
// queued file write) keeps its shared_ptr. At most kMaxEntries are cached.
#pragma once

#include <fcntl.h>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/rooted_path.h"
#include "common/unique_fd.h"

namespace gantry::cache {

class DirFdCache {
 public:
  static constexpr std::size_t kMaxEntries = 64;

  // Keeps its own dup of root.
  explicit DirFdCache(int root) : root_(std::make_shared<UniqueFd>(::fcntl(root, F_DUPFD_CLOEXEC, 0))) {}

  bool ok() const { return root_->valid(); }

  // The directory comps[0..n) as an O_PATH fd; missing ones made (0755)
  // with Create::yes. n == 0: the root.
  Result<std::shared_ptr<UniqueFd>> open(const std::vector<std::string>& comps, std::size_t n, Create create) {
    if (stale_.exchange(false)) fds_.clear();
    if (n == 0) return root_;
    std::string key = join(comps, 0, n);
    if (auto it = fds_.find(key); it != fds_.end()) return it->second;
    // The nearest cached ancestor, then the rest below it.
    int base = root_->get();
    std::size_t k = n - 1;
    for (; k > 0; --k) {
      if (auto it = fds_.find(join(comps, 0, k)); it != fds_.end()) {
        base = it->second->get();
        break;
      }
    }
    auto fd = open_dir_beneath(base, join(comps, k, n), create);
    if (!fd && base != root_->get()) fd = open_dir_beneath(root_->get(), key, create);  // the error the whole path gives
    if (!fd) return fail(fd.error());
    if (fds_.size() >= kMaxEntries) fds_.clear();
    auto shared = std::make_shared<UniqueFd>(std::move(*fd));
    fds_.emplace(std::move(key), shared);
    return shared;
  }

  void invalidate() { stale_ = true; }

 private:
  static std::string join(const std::vector<std::string>& comps, std::size_t from, std::size_t to) {
    std::string out;
    for (std::size_t i = from; i < to; ++i) {
      if (i > from) out.push_back('/');
      out += comps[i];
    }
    return out;
  }

  std::shared_ptr<UniqueFd> root_;
  std::atomic<bool> stale_{false};
  std::unordered_map<std::string, std::shared_ptr<UniqueFd>> fds_;
};

}  // namespace gantry::cache
