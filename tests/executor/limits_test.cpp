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
  auto bomb = sh("echo go $(hostname); bomb() { bomb | bomb & }; bomb; sleep 600");
  bomb.limits.pids = 64;
  bomb.timeout = 120s;  // a backstop only: the test cancels once it saw the limit hold
  std::stop_source stop;
  long most = -1, refused = -1;
  bomb.output = [&](executor::Stream, std::string_view line) {
    if (!line.starts_with("go ")) return;
    // This container's own pids cgroup (v1 or v2; named after its id, the
    // default hostname): wait until it refused forks, reading how many
    // processes it held meanwhile. No timing: the kernel's counters decide.
    std::string name = "gantry-" + std::string(line.substr(3));
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (refused <= 0 && std::chrono::steady_clock::now() < deadline) {
      auto r = run_shell("for d in $(find /sys/fs/cgroup -maxdepth 6 -type d -name '" + name + "'); do "
                         "[ -f $d/pids.current ] && echo $(cat $d/pids.current) $(sed -n 's/^max //p' $d/pids.events); done");
      std::istringstream in(r.out);
      long current, max_events;
      while (in >> current >> max_events) {
        most = std::max(most, current);
        refused = std::max(refused, max_events);
      }
      if (refused <= 0) std::this_thread::sleep_for(50ms);
    }
    stop.request_stop();
  };
  bomb.stop_grace = 100ms;
  auto boom = run(bomb, stop.get_token());
  ASSERT_RAN(boom);
  EXPECT_TRUE(boom.result->cancelled);
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
  // A sleep argument only this test process uses: tests run in parallel.
  std::string secs = unique_sleep_seconds();
  auto s = sh("sleep " + secs + " & sleep " + secs + " & echo started; sleep " + secs);
  s.timeout = 1s;
  std::string sleep_cmdline = std::string("sleep") + '\0' + secs + '\0';
  int seen_during = -1;
  s.output = [&](executor::Stream, std::string_view line) {
    if (line != "started") return;
    // The two background sleeps are forked; wait until they (and then the
    // foreground one) have exec'd: the timeout is enforced after this returns.
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while ((seen_during = count_host_processes(sleep_cmdline)) < 3 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
  };
  auto t0 = std::chrono::steady_clock::now();
  auto ran = run(s);
  ASSERT_RAN(ran);
  EXPECT_TRUE(ran.result->timed_out);
  EXPECT_EQ(ran.result->signal, SIGKILL);
  EXPECT_EQ(ran.result->exit_code, 137);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 60s);
  EXPECT_EQ(seen_during, 3) << "the sleeps were not running during the test";
  EXPECT_EQ(count_host_processes(sleep_cmdline), 0) << "a child of the container survived";
}

// Issue 10.8: the in-memory upper is a tmpfs of the size asked for, so a
// container's writes cannot take half the host's RAM.
TEST_F(ExecutorTest, UpperTmpfsLimitBoundsTheContainersWrites) {
  auto s = sh("df -k / | tail -n 1; dd if=/dev/zero of=/big bs=1M count=64 2>&1; echo rc=$?; "
              "du -k /big | cut -f1");
  s.limits.tmpfs_bytes = 8ull << 20;
  auto ran = run(s);
  ASSERT_RAN(ran);
  ASSERT_EQ(ran.result->exit_code, 0) << ran.out << ran.err;
  ASSERT_GE(ran.out_lines.size(), 3u) << ran.out;
  // overlayfs reports its upper's filesystem: 8 MiB in all.
  std::istringstream df(ran.out_lines[0]);
  std::string fs;
  long total_kib = 0;
  df >> fs >> total_kib;
  EXPECT_EQ(total_kib, 8192) << ran.out_lines[0];
  EXPECT_NE(ran.out.find("No space left on device"), std::string::npos) << ran.out;
  EXPECT_EQ(ran.out.find("rc=0"), std::string::npos) << ran.out;
  EXPECT_LE(std::stol(ran.out_lines.back()), 8192) << ran.out;
  EXPECT_TRUE(ran.result->upper_full);
  // Without the limit the same container writes it all (the bound was the limit's).
  s.limits.tmpfs_bytes.reset();
  auto free_run = run(s);
  ASSERT_RAN(free_run);
  EXPECT_NE(free_run.out.find("rc=0"), std::string::npos) << free_run.out;
  EXPECT_FALSE(free_run.result->upper_full);
}

// Issue 10.8: on an upper on disk, no file grows past file_bytes.
TEST_F(ExecutorTest, FileSizeLimitStopsAFileOnAnOnDiskUpper) {
  auto s = sh("(trap '' XFSZ; dd if=/dev/zero of=/big bs=1M count=16 2>&1); echo rc=$?; wc -c < /big");
  s.upper_on_disk = true;
  s.limits.file_bytes = 4ull << 20;
  auto ran = run(s);
  ASSERT_RAN(ran);
  EXPECT_NE(ran.out.find("File too large"), std::string::npos) << ran.out;
  EXPECT_EQ(ran.out.find("rc=0"), std::string::npos) << ran.out;
  ASSERT_FALSE(ran.out_lines.empty());
  EXPECT_EQ(ran.out_lines.back(), std::to_string(4 << 20));
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
