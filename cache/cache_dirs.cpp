// Cache directories: create, lock, list, remove (cache_dirs.h).
#include "cache/cache_dirs.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "common/file_util.h"

namespace gantry::cache {

namespace {

constexpr int kMaxPrivateInstances = 16;

// Opens DIR/lock and takes the flock (`op`: LOCK_SH/LOCK_EX, maybe | LOCK_NB).
// A lock file removed by `rm` while we waited is taken again from the path.
// EWOULDBLOCK when busy and LOCK_NB.
Result<UniqueFd> lock_instance(const std::string& dir, int op) {
  TRY(make_dirs(dir, 0755));
  std::string path = dir + "/lock";
  for (int attempt = 0; attempt < 100; ++attempt) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd) return fail_sys("open", path);
    if (::flock(fd.get(), op) != 0) return fail_sys("flock", path);
    struct stat held, now;
    if (::fstat(fd.get(), &held) != 0) return fail_sys("fstat", path);
    if (::stat(path.c_str(), &now) == 0 && now.st_ino == held.st_ino && now.st_dev == held.st_dev) return fd;
    TRY(make_dirs(dir, 0755));  // removed under us: again
  }
  return fail(ErrorKind::io, "cannot lock " + path + ": it keeps being removed");
}

bool busy(const std::string& dir) {
  UniqueFd fd(::open((dir + "/lock").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return false;
  return ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0;
}

std::uint64_t disk_usage(const std::string& dir) {
  namespace fs = std::filesystem;
  std::uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) == 0) total += static_cast<std::uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

// Removes one instance dir whose exclusive lock `held` we hold: data, then the
// lock file (a waiter then finds it gone and starts again), then the dir.
Result<std::uint64_t> remove_locked(const std::string& dir) {
  std::uint64_t bytes = disk_usage(dir + "/data");
  TRY(remove_tree(dir + "/data"));
  if (::unlink((dir + "/lock").c_str()) != 0 && errno != ENOENT) return fail_sys("unlink", dir + "/lock");
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY) return fail_sys("rmdir", dir);
  return bytes;
}

bool is_instance_of(const std::string& entry, const std::string& name) {
  return entry == name || (entry.starts_with(name + "@") && entry.size() > name.size() + 1 &&
                           std::all_of(entry.begin() + static_cast<long>(name.size()) + 1, entry.end(),
                                       [](char c) { return c >= '0' && c <= '9'; }));
}

}  // namespace

Result<CacheLease> CacheDirs::acquire(const std::string& project, const std::string& name, CacheSharing sharing,
                                      const std::function<void(const std::string&)>& on_wait, std::stop_token stop) {
  CacheLease lease;
  if (sharing == CacheSharing::private_) {
    for (int i = 1; i <= kMaxPrivateInstances; ++i) {
      std::string instance = i == 1 ? "" : "@" + std::to_string(i);
      std::string dir = paths_.cache_dir(project, name, instance);
      auto fd = lock_instance(dir, LOCK_EX | LOCK_NB);
      if (!fd) {
        if (fd.error().errno_value() == EWOULDBLOCK) continue;
        return fail(fd.error());
      }
      lease.lock = std::move(*fd);
      lease.instance = name + instance;
      lease.data_dir = dir + "/data";
      lease.waited = i > 1;
      TRY(make_dirs(lease.data_dir, 0755));
      return lease;
    }
    return fail(ErrorKind::io, "cache " + name + ": all " + std::to_string(kMaxPrivateInstances) +
                                   " private instances are in use");
  }
  std::string dir = paths_.cache_dir(project, name);
  int op = sharing == CacheSharing::shared ? LOCK_SH : LOCK_EX;
  for (;;) {
    auto fd = lock_instance(dir, op | LOCK_NB);
    if (fd) {
      lease.lock = std::move(*fd);
      break;
    }
    if (fd.error().errno_value() != EWOULDBLOCK) return fail(fd.error());
    if (!lease.waited && on_wait)
      on_wait("waiting for cache " + name + " (in use by another container; sharing: locked)");
    lease.waited = true;
    if (stop.stop_requested()) return fail(ErrorKind::io, "cancelled while waiting for cache " + name);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  lease.instance = name;
  lease.data_dir = dir + "/data";
  TRY(make_dirs(lease.data_dir, 0755));
  return lease;
}

Result<std::vector<CacheDirInfo>> CacheDirs::list(const std::string& project) const {
  std::vector<CacheDirInfo> out;
  std::vector<std::string> projects;
  if (!project.empty()) {
    projects.push_back(project);
  } else if (::access(paths_.caches_dir().c_str(), F_OK) == 0) {
    projects = TRY(list_dir(paths_.caches_dir()));
  }
  for (const auto& p : projects) {
    std::string pdir = paths_.project_caches_dir(p);
    if (::access(pdir.c_str(), F_OK) != 0) continue;
    for (const auto& entry : TRY(list_dir(pdir))) {
      std::string dir = pdir + "/" + entry;
      out.push_back({p, entry, dir + "/data", disk_usage(dir + "/data"), busy(dir)});
    }
  }
  return out;
}

Result<std::uint64_t> CacheDirs::remove(const std::string& project, const std::string& name) {
  std::string pdir = paths_.project_caches_dir(project);
  std::vector<std::string> instances;
  if (::access(pdir.c_str(), F_OK) == 0)
    for (const auto& entry : TRY(list_dir(pdir)))
      if (entry == name || (name.find('@') == std::string::npos && is_instance_of(entry, name)))
        instances.push_back(entry);
  if (instances.empty()) return fail(ErrorKind::not_found, "no cache " + name + " in project " + project);
  std::uint64_t freed = 0;
  for (const auto& instance : instances) {
    std::string dir = pdir + "/" + instance;
    auto fd = lock_instance(dir, LOCK_EX | LOCK_NB);
    if (!fd && fd.error().errno_value() == EWOULDBLOCK)
      return fail(Error(ErrorKind::io, "cache " + instance + " of project " + project + " is in use", EBUSY));
    if (!fd) return fail(fd.error());
    freed += TRY(remove_locked(dir));
  }
  return freed;
}

Result<std::uint64_t> CacheDirs::remove_all() {
  std::uint64_t freed = 0;
  for (const auto& info : TRY(list())) {
    std::string dir = paths_.cache_dir(info.project, info.name);
    auto fd = lock_instance(dir, LOCK_EX | LOCK_NB);
    if (!fd) continue;  // in use (or unreadable): left for the next gc
    freed += TRY(remove_locked(dir));
  }
  return freed;
}

}  // namespace gantry::cache
