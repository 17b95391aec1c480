#include "executor/container_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <sstream>

#include "common/file_util.h"
#include "executor/cgroup.h"
#include "executor/container.h"

namespace gantry::executor {

Result<ContainerDir> ContainerDir::create(const std::string& work_root, const std::string& id, bool disk_upper) {
  TRY(make_dirs(work_root, 0755));
  ContainerDir dir;
  // Made and locked under a name the sweep treats apart, then renamed: a
  // ctr-<id> dir always holds its lock, so one whose lock can be taken is a
  // dead runner's, however early it died.
  const std::string staging = work_root + "/new-ctr-" + id;
  const std::string path = work_root + "/ctr-" + id;
  if (::mkdir(staging.c_str(), 0700) != 0) return fail_sys("mkdir", staging);
  dir.path_ = staging;  // removed by the destructor on a failure below
  const std::string lock = staging + "/lock";
  dir.lock_.reset(::open(lock.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!dir.lock_) return fail_sys("create", lock);
  if (::flock(dir.lock_.get(), LOCK_EX) != 0) return fail_sys("flock", lock);
  if (::rename(staging.c_str(), path.c_str()) != 0) return fail_sys("rename", staging);
  dir.path_ = path;
  if (!disk_upper) return dir;
  for (const char* sub : {"upper", "work"}) {
    std::string p = path + "/" + sub;
    if (::mkdir(p.c_str(), 0755) != 0) return fail_sys("mkdir", p);
  }
  return dir;
}

std::string ContainerDir::memory_mount_point(const std::string& work_root) { return work_root + "/mem"; }

ContainerDir ContainerDir::in_memory_only(const std::string& work_root, const std::string& id) {
  ContainerDir dir;
  dir.path_ = memory_mount_point(work_root) + "/ctr-" + id;
  dir.on_disk_ = false;
  return dir;
}

ContainerDir::~ContainerDir() {
  if (!path_.empty()) (void)remove();
}

Status ContainerDir::remove() {
  if (path_.empty()) return {};
  if (!on_disk_) {
    path_.clear();
    return {};
  }
  // The lock goes last: a runner killed while removing leaves a dir whose
  // lock can be taken (swept), not a dir without one (kept as if in creation).
  Status st;
  if (auto names = list_dir(path_)) {
    for (const auto& name : *names)
      if (name != "lock")
        if (auto r = remove_tree(path_ + "/" + name); !r && st) st = std::move(r);
  }
  if (st) st = remove_tree(path_);
  lock_.reset();
  path_.clear();
  return st;
}

Result<int> sweep_leftovers(const std::string& work_root) {
  auto names = list_dir(work_root);
  if (!names) return names.error().errno_value() == ENOENT ? Result<int>(0) : fail(names.error());
  std::vector<std::string> candidates;
  for (const std::string& name : *names)
    if (name.starts_with("ctr-") || name.starts_with("new-ctr-")) candidates.push_back(work_root + "/" + name);
  int swept = 0;
  for (const auto& dir : candidates) {
    UniqueFd lock(::open((dir + "/lock").c_str(), O_RDWR | O_CLOEXEC));
    if (!lock) {
      // Only a new-ctr-<id> dir has no lock: being created right now, or a
      // crash between its mkdir and its lock (it holds nothing then: no
      // cgroup is made before the rename). Only old ones are garbage.
      struct stat st;
      if (::stat(dir.c_str(), &st) != 0 || std::time(nullptr) - st.st_mtime < 60) continue;
    } else if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
      continue;  // a live runner holds it
    }
    if (auto record = read_file(dir + "/cgroups")) {
      std::istringstream in(*record);
      std::string cg;
      while (std::getline(in, cg))
        if (!cg.empty()) TRY_CTX(remove_cgroup_dir(cg), "sweeping " + dir);
    }
    TRY_CTX(remove_tree(dir), "sweeping a leftover container dir");
    ++swept;
  }
  return swept;
}

}  // namespace gantry::executor
