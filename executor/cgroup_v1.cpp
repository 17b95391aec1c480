// CgroupDriver for one cgroup v1 hierarchy (memory, pids or cpu[,cpuacct]).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>

#include "executor/cgroup_drivers.h"

namespace gantry::executor {
namespace {

class CgroupV1Driver final : public CgroupDriver {
 public:
  CgroupV1Driver(Hierarchy h, LimitSet carries) : h_(std::move(h)), carries_(carries) {}

  std::string describe() const override { return "cgroup v1 hierarchy " + h_.own_dir; }
  std::string dir_for(const std::string& name) const override { return h_.own_dir + "/" + name; }

  Status create(const std::string& dir, const Limits& limits) const override {
    if (::mkdir(dir.c_str(), 0755) != 0) return fail_sys("mkdir cgroup", dir);
    if (carries_.memory && limits.memory_bytes) {
      auto bytes = std::to_string(*limits.memory_bytes);
      TRY(write_cgroup_file(dir, "memory.limit_in_bytes", bytes));
      // With swap accounting, memory+swap gets the same limit: no swapping out of the limit.
      if (::access((dir + "/memory.memsw.limit_in_bytes").c_str(), F_OK) == 0)
        TRY(write_cgroup_file(dir, "memory.memsw.limit_in_bytes", bytes));
      else
        (void)write_cgroup_file(dir, "memory.swappiness", "0");
    }
    if (carries_.pids && limits.pids) TRY(write_cgroup_file(dir, "pids.max", std::to_string(*limits.pids)));
    if (carries_.cpu && limits.cpus) {
      constexpr long long kPeriod = 100000;
      long long quota = std::llround(*limits.cpus * kPeriod);
      if (quota < 1000) quota = 1000;
      TRY(write_cgroup_file(dir, "cpu.cfs_period_us", std::to_string(kPeriod)));
      TRY(write_cgroup_file(dir, "cpu.cfs_quota_us", std::to_string(quota)));
    }
    return {};
  }

  bool oom_killed(const std::string& dir) const override {
    if (!carries_.memory) return false;
    if (auto kills = read_keyed_value(dir + "/memory.oom_control", "oom_kill")) return *kills > 0;
    // Old kernels: the limit was hit (failcnt) — the caller pairs it with SIGKILL.
    auto fail = read_keyed_value(dir + "/memory.failcnt", "");
    return fail && *fail > 0;
  }

  void kill_all(const std::string& dir) const override { kill_listed_procs(dir); }

 private:
  Hierarchy h_;
  LimitSet carries_;
};

}  // namespace

std::unique_ptr<CgroupDriver> make_cgroup_v1_driver(const Hierarchy& h, LimitSet carries) {
  return std::make_unique<CgroupV1Driver>(h, carries);
}

}  // namespace gantry::executor
