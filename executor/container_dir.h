// Private to executor/: the on-disk scratch of one container and the sweep of
// the ones a crashed runner left.
//
//   <work_root>/ctr-<id>/   (layout version 2)
//     lock        flock(LOCK_EX) held by the runner for the container's life;
//                 the dir is made as new-ctr-<id>/ with its lock locked, then
//                 renamed, so a ctr-<id>/ whose lock can be taken belongs to a
//                 dead runner (version 1 locked lock.new inside ctr-<id>/ and
//                 renamed the file: a runner killed before that left a ctr
//                 dir without a lock, kept 60 s)
//     cgroups     the cgroup dirs of the container, one a line, written before mkdir
//     upper/ work/  the overlay's upper and work dirs, on disk only for a kept
//                 upper; otherwise these and the two below live in a tmpfs
//                 that PID 1 mounts over this dir in the container's mount ns
//     rootfs/     the overlay mount point (mounted only in the container's mount ns)
//     etc/        hosts, hostname, resolv.conf bound into the container
//   <work_root>/upper-<id>/ a kept upper dir (keep_upper): the caller's
// A container without a kept upper and without cgroups has no dir on disk at
// all: its init mounts a tmpfs over <work_root> in its own mount namespace
// and makes ctr-<id>/ there.
#pragma once

#include <string>
#include <utility>

#include "common/error.h"
#include "common/unique_fd.h"

namespace gantry::executor {

class ContainerDir {
 public:
  // disk_upper: create upper/ and work/ here (a kept upper); otherwise the
  // init mounts a tmpfs over the dir and makes them there.
  static Result<ContainerDir> create(const std::string& work_root, const std::string& id, bool disk_upper);
  // A container that needs nothing on disk (no kept upper, no cgroups to
  // record): the same paths, but only inside the tmpfs the init mounts over
  // work_root in the container's mount namespace. remove() has nothing to do.
  static ContainerDir in_memory_only(const std::string& work_root, const std::string& id);
  // The empty directory under work_root over which an in-memory container's
  // init mounts its tmpfs (in its own mount namespace only). A dedicated
  // directory: whatever else the caller keeps in work_root stays visible.
  static std::string memory_mount_point(const std::string& work_root);
  ContainerDir(ContainerDir&& other) noexcept
      : path_(std::exchange(other.path_, {})), on_disk_(other.on_disk_), lock_(std::move(other.lock_)) {}
  ContainerDir& operator=(ContainerDir&& other) noexcept {
    if (this != &other) {
      (void)remove();
      path_ = std::exchange(other.path_, {});
      on_disk_ = other.on_disk_;
      lock_ = std::move(other.lock_);
    }
    return *this;
  }
  ~ContainerDir();

  const std::string& path() const { return path_; }
  std::string upper() const { return path_ + "/upper"; }
  std::string work() const { return path_ + "/work"; }
  std::string rootfs() const { return path_ + "/rootfs"; }
  std::string etc() const { return path_ + "/etc"; }
  std::string cgroups_record() const { return path_ + "/cgroups"; }
  bool on_disk() const { return on_disk_; }
  // Removes everything (the lock goes last).
  Status remove();

 private:
  ContainerDir() = default;
  std::string path_;
  bool on_disk_ = true;
  UniqueFd lock_;
};

}  // namespace gantry::executor
