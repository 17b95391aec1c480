// Nothing outlives a container: mounts, cgroups, processes, temp dirs; many
// containers at once; and the sweep of what a runner killed with SIGKILL left.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "common/file_util.h"
#include "tests/executor/executor_fixture.h"

namespace gantry::testing {
namespace {

using namespace std::chrono_literals;

std::size_t mount_count() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) ++n;
  return n;
}

// gantry-* cgroup dirs under every hierarchy (v1 and v2), at any depth gantry uses.
std::set<std::string> gantry_cgroups() {
  auto r = run_shell("find /sys/fs/cgroup -maxdepth 6 -type d -name 'gantry-*' 2>/dev/null");
  std::set<std::string> out;
  std::size_t start = 0;
  while (start < r.out.size()) {
    auto nl = r.out.find('\n', start);
    out.insert(r.out.substr(start, nl - start));
    start = nl == std::string::npos ? r.out.size() : nl + 1;
  }
  return out;
}

// The cgroups of the given containers (named after their ids). Other test
// processes run containers at the same time (ctest -j), so a global count of
// gantry-* cgroups would race with them.
std::set<std::string> cgroups_of(const std::set<std::string>& ids) {
  std::set<std::string> out;
  for (const auto& cg : gantry_cgroups())
    for (const auto& id : ids)
      if (cg.find(id) != std::string::npos) out.insert(cg);
  return out;
}

// Init processes of this test process (its children), for the same reason.
int init_processes() {
  int n = 0;
  for (const auto& [pid, c] : host_processes()) {
    if (c.find(std::string("gantry-init")) == std::string::npos) continue;
    std::ifstream st("/proc/" + pid + "/stat");
    std::string stat((std::istreambuf_iterator<char>(st)), {});
    auto close = stat.rfind(')');
    int ppid = 0;
    if (close != std::string::npos) std::sscanf(stat.c_str() + close + 1, " %*c %d", &ppid);
    if (ppid == ::getpid()) ++n;
  }
  return n;
}

TEST_F(ExecutorTest, TwoHundredContainersLeaveNothingBehind) {
  // Warm up (the first run sweeps and builds the seccomp profile).
  ASSERT_RAN(run(spec({"true"})));
  auto mounts_before = mount_count();
  std::set<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    auto s = i % 2 ? spec({"true"}) : sh("echo $$ > /tmp/pid; sleep 0 & exit 3");
    if (i % 10 == 0) s.limits.memory_bytes = 64ull << 20, s.limits.pids = 32;
    auto ran = run(s);
    ASSERT_RAN(ran);
    ASSERT_EQ(ran.result->exit_code, i % 2 ? 0 : 3);
    ids.insert(ran.result->id);
  }
  EXPECT_EQ(ids.size(), 200u);
  EXPECT_EQ(mount_count(), mounts_before);
  EXPECT_EQ(cgroups_of(ids), std::set<std::string>{});
  EXPECT_EQ(init_processes(), 0);
  EXPECT_TRUE(work_root_entries().empty());
}

TEST_F(ExecutorTest, EightContainersAtOnce) {
  std::vector<std::future<Ran>> runs;
  for (int i = 0; i < 8; ++i) {
    auto s = sh("echo $(hostname) start; sleep 0.5; echo done");
    runs.push_back(std::async(std::launch::async, [s] { return run(s); }));
  }
  std::set<std::string> ids;
  for (auto& f : runs) {
    Ran ran = f.get();
    ASSERT_RAN(ran);
    EXPECT_EQ(ran.result->exit_code, 0);
    EXPECT_EQ(ran.out, ran.result->id + " start\ndone\n");
    ids.insert(ran.result->id);
  }
  EXPECT_EQ(ids.size(), 8u);
  EXPECT_TRUE(work_root_entries().empty());
}

TEST_F(ExecutorTest, RunnerKilledWithSigkillLeavesOnlyWhatTheSweepRemoves) {
  // A real runner (gantry exec) killed with SIGKILL mid-run.
  std::string store = scratch_ / "store";
  std::string secs = unique_sleep_seconds();  // counted host-wide: only this test's
  std::string err_file = scratch_ / "gantry.err";
  pid_t pid = ::fork();
  if (pid == 0) {
    // Nothing of the runner may hold the test's output pipes (ctest waits for them).
    int devnull = ::open("/dev/null", O_WRONLY);
    int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(devnull, 1);
    ::dup2(err, 2);
    ::execl(gantry_binary().c_str(), "gantry", "--store", store.c_str(), "exec", "--memory", "64M", "--rootfs",
            rootfs().c_str(), "--", "sleep", secs.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::string sleep_cmdline = std::string("sleep") + '\0' + secs + '\0';
  auto count = [&] { return count_host_processes(sleep_cmdline); };
  // Killed and reaped on every path, also when an assertion below returns early.
  struct Runner {
    pid_t pid;
    void kill() {
      if (pid <= 0) return;
      ::kill(pid, SIGKILL);
      int status;
      ::waitpid(pid, &status, 0);
      pid = -1;
    }
    ~Runner() { kill(); }
  } runner{pid};
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (count() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  ASSERT_EQ(count(), 1) << "the container never started: " << read_file_or_die(err_file);
  runner.kill();
  // PR_SET_PDEATHSIG carries the kill down: init, PID 1, the command.
  deadline = std::chrono::steady_clock::now() + 10s;
  while (count() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(count(), 0) << "the container outlived its runner";

  std::string root = store + "/tmp/containers";
  // The killed container's id (its dir ctr-<id> and cgroups gantry-<id>):
  // other tests' containers may run meanwhile, so only its own are checked.
  std::set<std::string> ids;
  for (const auto& name : entries_of(root, false))
    if (name.starts_with("ctr-")) ids.insert(name.substr(4));
  ASSERT_EQ(ids.size(), 1u) << "the killed runner's container dir is missing";
  EXPECT_FALSE(cgroups_of(ids).empty()) << "the --memory container had no cgroup to leave behind";
  auto swept = executor::sweep_leftovers(root);
  ASSERT_TRUE(swept.has_value()) << swept.error().message();
  EXPECT_EQ(*swept, 1);
  auto left = run_shell("ls -A " + root);
  EXPECT_EQ(left.out, "");
  EXPECT_EQ(cgroups_of(ids), std::set<std::string>{});
}

}  // namespace
}  // namespace gantry::testing
