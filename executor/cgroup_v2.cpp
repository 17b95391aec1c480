// CgroupDriver for the cgroup v2 (unified) hierarchy. Used for a container
// only when it carries one of its limits (cgroup_drivers_for: no limit, no
// cgroup); then it also kills every process of the container with one write
// to cgroup.kill (the pid namespace gathers them otherwise).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>

#include "common/file_util.h"
#include "executor/cgroup_drivers.h"

namespace gantry::executor {
namespace {

class CgroupV2Driver final : public CgroupDriver {
 public:
  CgroupV2Driver(Hierarchy h, LimitSet carries) : h_(std::move(h)), carries_(carries) {}

  std::string describe() const override { return "cgroup v2 at " + h_.own_dir; }
  std::string dir_for(const std::string& name) const override { return h_.own_dir + "/" + name; }

  Status create(const std::string& dir, const Limits& limits) const override {
    std::string enable;
    if (carries_.memory && limits.memory_bytes) enable += " +memory";
    if (carries_.pids && limits.pids) enable += " +pids";
    if (carries_.cpu && limits.cpus) enable += " +cpu";
    if (!enable.empty()) {
      // The parent must delegate the controllers to its children. This fails
      // with EBUSY when gantry's own cgroup holds processes and is not the
      // root ("no internal processes"): run gantry in a cgroup of its own.
      auto st = write_cgroup_file(h_.own_dir, "cgroup.subtree_control", enable.substr(1));
      if (!st) return fail(std::move(st).error().context("enabling cgroup v2 controllers for the limits"));
    }
    if (::mkdir(dir.c_str(), 0755) != 0) return fail_sys("mkdir cgroup", dir);
    if (carries_.memory && limits.memory_bytes) {
      TRY(write_cgroup_file(dir, "memory.max", std::to_string(*limits.memory_bytes)));
      if (::access((dir + "/memory.swap.max").c_str(), F_OK) == 0) (void)write_cgroup_file(dir, "memory.swap.max", "0");
    }
    if (carries_.pids && limits.pids) TRY(write_cgroup_file(dir, "pids.max", std::to_string(*limits.pids)));
    if (carries_.cpu && limits.cpus) {
      constexpr long long kPeriod = 100000;
      long long quota = std::max(1000LL, std::llround(*limits.cpus * kPeriod));
      TRY(write_cgroup_file(dir, "cpu.max", std::to_string(quota) + " " + std::to_string(kPeriod)));
    }
    return {};
  }

  bool oom_killed(const std::string& dir) const override {
    if (!carries_.memory) return false;
    auto kills = read_keyed_value(dir + "/memory.events", "oom_kill");
    return kills && *kills > 0;
  }

  void kill_all(const std::string& dir) const override {
    if (!write_cgroup_file(dir, "cgroup.kill", "1")) kill_listed_procs(dir);
  }

 private:
  Hierarchy h_;
  LimitSet carries_;
};

}  // namespace

std::unique_ptr<CgroupDriver> make_cgroup_v2_driver(const Hierarchy& h, LimitSet carries) {
  return std::make_unique<CgroupV2Driver>(h, carries);
}

}  // namespace gantry::executor
