// Cgroups of one container. The kernel differs between machines: cgroup v2
// only, v1 only, or hybrid (memory/pids/cpu on v1, an empty cgroup2 at
// /sys/fs/cgroup/unified, as on the development machines). A CgroupDriver
// owns one hierarchy; CgroupLayout picks, per controller, the driver that has
// it. Every container cgroup nests under gantry's own current cgroup of that
// hierarchy (/proc/self/cgroup), named gantry-<id>.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "executor/container.h"

namespace gantry::executor {

class CgroupDriver {
 public:
  virtual ~CgroupDriver() = default;
  virtual std::string describe() const = 0;  // "cgroup v1 memory at /sys/fs/cgroup/memory"
  // The directory the container's cgroup gets: <hierarchy>/<own path>/<name>.
  virtual std::string dir_for(const std::string& name) const = 0;
  // mkdir + the limits this driver is responsible for (the ones it was built with).
  virtual Status create(const std::string& dir, const Limits& limits) const = 0;
  // Did the kernel OOM-kill a process in dir (read before removal)?
  virtual bool oom_killed(const std::string& dir) const = 0;
  // Kills every process in dir (v2: cgroup.kill; v1: SIGKILL to cgroup.procs).
  virtual void kill_all(const std::string& dir) const = 0;
};

// The drivers needed for a container with these limits on this machine:
// v2 for the limits its controllers carry, v1 hierarchies for the others,
// none without limits. invalid_input when a limit has no controller.
Result<std::vector<std::unique_ptr<CgroupDriver>>> cgroup_drivers_for(const Limits& limits);

// The created cgroups of one container; the destructor kills what is left in
// them and removes them (remove() reports errors). The paths are recorded,
// before each mkdir, in record_file so sweep_leftovers can remove them after
// a crash.
class ContainerCgroups {
 public:
  static Result<ContainerCgroups> create(const std::string& id, const Limits& limits,
                                         const std::string& record_file);
  ContainerCgroups() = default;
  ContainerCgroups(ContainerCgroups&&) = default;
  ContainerCgroups& operator=(ContainerCgroups&&) = default;
  ~ContainerCgroups();

  // Open cgroup.procs fds; the spawned init writes "0" to each to join.
  const std::vector<UniqueFd>& procs_fds() const { return procs_fds_; }
  bool oom_killed() const;
  void kill_all() const;
  // Waits (bounded) for the cgroups to be empty and removes them.
  Status remove();

 private:
  struct Entry {
    std::unique_ptr<CgroupDriver> driver;
    std::string dir;
  };
  std::vector<Entry> entries_;
  std::vector<UniqueFd> procs_fds_;
};

// Removes a cgroup dir left by a crashed runner: kills its processes, rmdir.
Status remove_cgroup_dir(const std::string& dir);

}  // namespace gantry::executor

namespace gantry::executor {

// Without root (common/userns.h): why the cgroup limits in `limits` cannot
// be enforced here (no hierarchy with the controller, or gantry's own cgroup
// is not delegated to the user: not writable from its user namespace);
// nullopt when they can, or when there are none.
std::optional<std::string> rootless_cgroup_problem(const Limits& limits);

}  // namespace gantry::executor
