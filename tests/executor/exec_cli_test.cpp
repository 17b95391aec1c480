// `gantry exec` end to end: an image imported into a store, exit codes as
// documented (command's code, 128+N, 125/126/127), limits flags.
#include "tests/executor/executor_fixture.h"

namespace gantry::testing {
namespace {

class ExecCliTest : public ExecutorTest {
 protected:
  static void SetUpTestSuite() {
    ExecutorTest::SetUpTestSuite();
    if (::geteuid() != 0) return;
    store_ = std::make_unique<ScratchDir>();
    auto r = run_command({source_dir() + "/ci/make-busybox-image", "--store", store_->path(), "busybox"},
                         {"GANTRY=" + gantry_binary()});
    import_error_ = r.exit_code == 0 ? "" : "make-busybox-image failed: " + r.out + r.err;
  }
  static void TearDownTestSuite() {
    store_.reset();
    ExecutorTest::TearDownTestSuite();
  }
  void SetUp() override {
    ExecutorTest::SetUp();
    if (!import_error_.empty()) GTEST_SKIP() << import_error_;  // cache/ image import not available
  }
  CommandResult exec(std::vector<std::string> args) { return run_gantry(store_->path(), args); }

  static inline std::unique_ptr<ScratchDir> store_;
  static inline std::string import_error_;
};

TEST_F(ExecCliTest, ShowsAnIsolatedContainer) {
  auto r = exec({"exec", "busybox", "--", "sh", "-c", "echo $$; hostname; cat /proc/self/cgroup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::string pid, hostname, cgroup_line;
  std::getline(in, pid);
  std::getline(in, hostname);
  EXPECT_EQ(pid, "2");
  EXPECT_EQ(hostname.size(), 12u) << r.out;
  while (std::getline(in, cgroup_line)) EXPECT_EQ(cgroup_line.back(), '/') << "cgroup namespace: " << cgroup_line;
}

TEST_F(ExecCliTest, ExitCodesAreDocumented) {
  EXPECT_EQ(exec({"exec", "busybox", "--", "sh", "-c", "exit 7"}).exit_code, 7);
  EXPECT_EQ(exec({"exec", "busybox", "--", "sh", "-c", "kill -INT $$"}).exit_code, 130);
  EXPECT_EQ(exec({"exec", "busybox", "--", "no-such-tool"}).exit_code, 127);
  EXPECT_EQ(exec({"exec", "busybox", "--", "/etc/passwd"}).exit_code, 126);
  auto missing = exec({"exec", "no-such-image", "--", "true"});
  EXPECT_EQ(missing.exit_code, 125);
  EXPECT_NE(missing.err.find("no-such-image"), std::string::npos) << missing.err;
  EXPECT_EQ(exec({"exec", "--memory", "lots", "busybox", "--", "true"}).exit_code, 125);
  EXPECT_EQ(exec({"exec", "-u", "ghost", "busybox", "--", "true"}).exit_code, 125);
  auto help = exec({"exec", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("127"), std::string::npos);
}

TEST_F(ExecCliTest, FlagsApply) {
  auto r = exec({"exec", "-e", "A=1", "-e", "B=two", "-w", "/srv", "-u", "nobody", "--hostname", "h1", "--timeout",
                 "30s", "--memory", "64M", "--pids", "50", "--cpus", "1", "busybox", "--", "sh", "-c",
                 "echo $A $B $(pwd) $(id -u) $(hostname)"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1 two /srv 65534 h1\n");
  auto t = exec({"exec", "--timeout", "1s", "busybox", "--", "sleep", "100"});
  EXPECT_EQ(t.exit_code, 137);
  EXPECT_NE(t.err.find("timeout"), std::string::npos) << t.err;
}

TEST_F(ExecCliTest, RootfsDirWorksWithoutAnImage) {
  auto r = exec({"exec", "--rootfs", rootfs(), "--", "sh", "-c", "echo from-rootfs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from-rootfs\n");
}

}  // namespace
}  // namespace gantry::testing
