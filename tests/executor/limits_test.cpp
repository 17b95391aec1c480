// Limits through cgroups (v1 and/or v2, whatever the machine has), the
// timeout, and the kill of every process of a container.
#include <dirent.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/executor/executor_fixture.h"

namespace gantry::testing {
namespace {

using namespace std::chrono_literals;

// Processes on the host whose command line is exactly `argv` (NULs between).
int count_host_processes(const std::string& cmdline) {
  int n = 0;
  DIR* d = ::opendir("/proc");
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/cmdline", std::ios::binary);
    std::string c((std::istreambuf_iterator<char>(f)), {});
    if (c == cmdline) ++n;
  }
  ::closedir(d);
  return n;
}

TEST_F(ExecutorTest, MemoryHogIsOomKilledAndReported) {
  // dd allocates its 256 MiB block and fills it: far over the 32 MiB limit.
  auto s = sh("echo start; exec dd if=/dev/zero of=/dev/null bs=256M count=1");
  s.limits.memory_bytes = 32ull << 20;
  s.timeout = 60s;
  auto ran = run(s);
  ASSERT_RAN(ran);
  EXPECT_TRUE(ran.result->oom_killed) << ran.out << ran.err;
  EXPECT_EQ(ran.result->signal, SIGKILL) << ran.out << ran.err;
  EXPECT_EQ(ran.result->exit_code, 137);
  EXPECT_FALSE(ran.result->timed_out);
}

TEST_F(ExecutorTest, ForkBombIsContainedByThePidsLimit) {
  auto bomb = sh("echo go; bomb() { bomb | bomb & }; bomb; sleep 60");
  bomb.limits.pids = 64;
  bomb.timeout = 4s;
  long most = -1, refused = -1;
  bomb.output = [&](executor::Stream, std::string_view line) {
    if (line != "go") return;
    // While it rages: the container's pids cgroup (v1 or v2) stays at the
    // limit and counts the forks it refused.
    std::this_thread::sleep_for(1500ms);
    auto r = run_shell("for d in $(find /sys/fs/cgroup -maxdepth 6 -type d -name 'gantry-*'); do "
                       "[ -f $d/pids.current ] && echo $(cat $d/pids.current) $(sed -n 's/^max //p' $d/pids.events); done");
    std::istringstream in(r.out);
    long current, max_events;
    while (in >> current >> max_events) {
      most = std::max(most, current);
      refused = std::max(refused, max_events);
    }
  };
  auto t0 = std::chrono::steady_clock::now();
  auto boom = run(bomb);
  ASSERT_RAN(boom);
  EXPECT_TRUE(boom.result->timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 60s);
  EXPECT_GE(most, 1) << "no pids cgroup of the container was found";
  EXPECT_LE(most, 64);
  EXPECT_GT(refused, 0) << "the bomb never hit the limit";
  // The host stays responsive: the next container starts and runs normally.
  auto after = run(sh("echo alive"));
  ASSERT_RAN(after);
  EXPECT_EQ(after.out, "alive\n");
  EXPECT_TRUE(work_root_entries().empty());
}

TEST_F(ExecutorTest, TimeoutKillsTheCommandAndAllItsChildren) {
  auto s = sh("sleep 100 & sleep 100 & echo started; sleep 100");
  s.timeout = 1s;
  std::string sleep_cmdline = std::string("sleep") + '\0' + "100" + '\0';
  int seen_during = -1;
  s.output = [&](executor::Stream, std::string_view line) {
    if (line == "started") {
      std::this_thread::sleep_for(200ms);
      seen_during = count_host_processes(sleep_cmdline);
    }
  };
  auto t0 = std::chrono::steady_clock::now();
  auto ran = run(s);
  ASSERT_RAN(ran);
  EXPECT_TRUE(ran.result->timed_out);
  EXPECT_EQ(ran.result->signal, SIGKILL);
  EXPECT_EQ(ran.result->exit_code, 137);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
  EXPECT_GE(seen_during, 3) << "the sleeps were not running during the test";
  EXPECT_EQ(count_host_processes(sleep_cmdline), 0) << "a child of the container survived";
}

TEST_F(ExecutorTest, CpuQuotaIsApplied) {
  auto s = sh("echo ready; sleep 1");
  s.limits.cpus = 0.5;
  bool saw_quota = false;
  s.output = [&](executor::Stream, std::string_view line) {
    if (line != "ready") return;
    // The container's cgroup (v2 cpu.max or v1 cpu.cfs_quota_us) under gantry's own.
    for (const char* pattern : {"/sys/fs/cgroup/cpu/gantry-*/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu,cpuacct/gantry-*/cpu.cfs_quota_us",
                                "/sys/fs/cgroup/gantry-*/cpu.max"}) {
      auto r = run_shell(std::string("cat ") + pattern + " 2>/dev/null");
      if (r.out.find("50000") != std::string::npos) saw_quota = true;
    }
  };
  auto ran = run(s);
  ASSERT_RAN(ran);
  EXPECT_EQ(ran.result->exit_code, 0);
  EXPECT_TRUE(saw_quota) << "no cgroup with a 0.5 CPU quota was found while the container ran";
}

TEST_F(ExecutorTest, CancelStopsTheContainer) {
  std::stop_source stop;
  auto s = sh("trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 1; done");
  s.stop_grace = 5s;
  s.output = [&](executor::Stream, std::string_view line) {
    if (line == "ready") stop.request_stop();
  };
  auto ran = run(s, stop.get_token());
  ASSERT_RAN(ran);
  EXPECT_TRUE(ran.result->cancelled);
  EXPECT_NE(ran.out.find("got-term"), std::string::npos) << "SIGTERM was not forwarded: " << ran.out;
  EXPECT_EQ(ran.result->exit_code, 7);
}

}  // namespace
}  // namespace gantry::testing
