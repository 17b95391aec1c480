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
// stays valid until then). At most kMaxEntries fds are open.
#pragma once

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

  explicit DirFdCache(int root) : root_(root) {}

  // The directory comps[0..n) as an O_PATH fd owned by the cache (valid
  // until the next call); missing ones made (0755) with Create::yes.
  // n == 0: the root.
  Result<int> open(const std::vector<std::string>& comps, std::size_t n, Create create) {
    if (stale_) {
      fds_.clear();
      stale_ = false;
    }
    if (n == 0) return root_;
    std::string key = join(comps, 0, n);
    if (auto it = fds_.find(key); it != fds_.end()) return it->second.get();
    // The nearest cached ancestor, then the rest below it.
    int base = root_;
    std::size_t k = n - 1;
    for (; k > 0; --k) {
      if (auto it = fds_.find(join(comps, 0, k)); it != fds_.end()) {
        base = it->second.get();
        break;
      }
    }
    auto fd = open_dir_beneath(base, join(comps, k, n), create);
    if (!fd && base != root_) fd = open_dir_beneath(root_, key, create);  // the error the whole path gives
    if (!fd) return fail(fd.error());
    if (fds_.size() >= kMaxEntries) fds_.clear();
    int raw = fd->get();
    fds_.emplace(std::move(key), std::move(*fd));
    return raw;
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

  int root_;
  bool stale_ = false;
  std::unordered_map<std::string, UniqueFd> fds_;
};

}  // namespace gantry::cache
