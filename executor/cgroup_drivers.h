// Private to executor/: the two CgroupDriver implementations and the
// discovery of the mounted hierarchies.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "executor/cgroup.h"

namespace gantry::executor {

// Which limits a driver carries.
struct LimitSet {
  bool memory = false;
  bool pids = false;
  bool cpu = false;
};

struct Hierarchy {
  bool v2 = false;
  std::vector<std::string> controllers;  // v1: from the mount options; v2: own cgroup.controllers
  std::string own_dir;                   // mount point + gantry's own cgroup path in it
};

// The mounted hierarchies as this process sees them (read once, cached).
const std::vector<Hierarchy>& cgroup_hierarchies();

std::unique_ptr<CgroupDriver> make_cgroup_v1_driver(const Hierarchy& h, LimitSet carries);
std::unique_ptr<CgroupDriver> make_cgroup_v2_driver(const Hierarchy& h, LimitSet carries);

// Small helpers shared by both drivers.
Status write_cgroup_file(const std::string& dir, const char* file, const std::string& value);
std::optional<long long> read_keyed_value(const std::string& path, const std::string& key);
void kill_listed_procs(const std::string& dir);

}  // namespace gantry::executor
