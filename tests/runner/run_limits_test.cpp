// Issue 10.8: every stage and build step runs under default limits (memory,
// pids, the size of its in-memory upper, the largest file on an on-disk
// upper) from the runner's configuration; a stage's own `limits:` goes over
// them. Small limits in a runner config make the bounds visible.
#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunLimitsTest : public RunFixture {
 protected:
  std::string runner_config(const std::string& yaml) {
    std::string path = dir_ / "runner.yml";
    write_file(path, yaml);
    return "GANTRY_RUNNER_CONFIG=" + path;
  }
  std::string log_of(const nlohmann::json& run, const std::string& stage_name) {
    return run_gantry(store_, {"logs", run["id"].get<std::string>(), stage_name}).out;
  }
};

TEST_F(RunLimitsTest, UpperTmpfsDefault_StopsAStageThatWritesMore_AStageLimitRaisesIt) {
  commit({{".gantry.yml",
           "stages:\n"
           "  writer: {image: busybox, run: 'df -k / | tail -n 1; dd if=/dev/zero of=/big bs=1M count=64'}\n"
           "  raised: {image: busybox, limits: {tmpfs: 96M}, run: 'dd if=/dev/zero of=/big bs=1M count=64'}\n"}});
  auto run = run_json({}, {runner_config("limits: {tmpfs: 8M}\n")}, 1);
  EXPECT_EQ(stage(run, "writer").value("status", ""), "failed") << run.dump(2);
  EXPECT_EQ(stage(run, "raised").value("status", ""), "passed") << run.dump(2);
  // The record says why: the limit, by name.
  EXPECT_EQ(stage(run, "writer").value("detail", ""), "exit code 1 (its writes filled the 8 MiB upper tmpfs: limits.tmpfs)")
      << run.dump(2);
  std::string log = log_of(run, "writer");
  EXPECT_NE(log.find("No space left on device"), std::string::npos) << log;
  // The upper is a tmpfs of 8 MiB in all: the host's shared memory cannot
  // grow by more than that, whatever the stage writes.
  auto line = log.substr(0, log.find('\n'));
  std::istringstream df(line);
  std::string fs;
  long total_kib = 0;
  df >> fs >> total_kib;
  EXPECT_EQ(total_kib, 8192) << log;
}

TEST_F(RunLimitsTest, PidsDefault_StopsAForkLoop) {
  commit({{".gantry.yml",
           "stages:\n"
           "  forker:\n"
           "    image: busybox\n"
           // The loop runs in a subshell (the shell gives up at the first
           // failed fork); the count is a glob, no fork: at the limit a
           // $(...) could not run.
           "    run: '(for i in $(seq 200); do sleep 600 & done); set -- /proc/[0-9]*; echo procs=$#'\n"}});
  auto run = run_json({}, {runner_config("limits: {pids: 32}\n")});
  std::string log = log_of(run, "forker");
  auto at = log.find("procs=");
  ASSERT_NE(at, std::string::npos) << log;
  long procs = std::stol(log.substr(at + 6));
  EXPECT_LE(procs, 32) << log;
  EXPECT_GE(procs, 8) << log;
  EXPECT_NE(log.find("can't fork"), std::string::npos) << log;
}

TEST_F(RunLimitsTest, BuiltInDefaults_ApplyWithoutARunnerConfig) {
  // A runner config that sets no limits: the built-in 1 GiB upper.
  commit({{".gantry.yml",
           "stages:\n"
           "  probe: {image: busybox, run: 'df -k / | tail -n 1'}\n"}});
  auto run = run_json({}, {runner_config("max_secret_size: 64k\n")});
  std::string log = log_of(run, "probe");
  std::istringstream df(log.substr(0, log.find('\n')));
  std::string fs;
  long total_kib = 0;
  df >> fs >> total_kib;
  EXPECT_EQ(total_kib, 1024 * 1024) << log;
}

}  // namespace
}  // namespace gantry::testing
