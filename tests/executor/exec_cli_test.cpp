// `gantry exec` end to end: an image imported into a store, exit codes as
// documented (command's code, 128+N, 125/126/127), limits flags.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

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
    // A failed import is a failure of the test, never a skip: what the test
    // claims would otherwise go unchecked.
    if (!import_error_.empty()) FAIL() << import_error_;
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

// Issue 10.7: a writable bind mount of a host directory plus CAP_MKNOD used
// to open host devices (the kernel log through a `c 1 11` node). Now every
// bind mount is nodev and nosuid, also its submounts, and the container
// cannot make device nodes at all.
TEST_F(ExecCliTest, WritableMountIsNodevNosuidAndNoDeviceNodeOpens) {
  ScratchDir host;
  std::string rw = host / "rw";
  ASSERT_EQ(::mkdir(rw.c_str(), 0777), 0);
  // Nodes made on the host (as root) in the bound directory and in a submount of it.
  ASSERT_EQ(::mknod((rw + "/kmsg").c_str(), S_IFCHR | 0666, makedev(1, 11)), 0);
  ASSERT_EQ(::mknod((rw + "/loop").c_str(), S_IFBLK | 0666, makedev(7, 0)), 0);
  std::string sub = rw + "/sub";
  ASSERT_EQ(::mkdir(sub.c_str(), 0777), 0);
  ASSERT_EQ(::mount("tmpfs", sub.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{sub};
  ASSERT_EQ(::mknod((sub + "/kmsg").c_str(), S_IFCHR | 0666, makedev(1, 11)), 0);
  std::string canary = "gantry-canary-" + std::to_string(::getpid());

  auto r = exec({"exec", "--mount", rw + ":/rw:rw", "--mount", rw + ":/ro", "busybox", "--", "sh", "-c",
                 "mknod /rw/made c 1 11 && echo made-in-mount; mknod /tmp/made b 7 0 && echo made-in-upper; "
                 "echo " + canary + " > /rw/kmsg && echo wrote-kmsg; "
                 "echo " + canary + " > /rw/sub/kmsg && echo wrote-sub-kmsg; "
                 "head -c 1 /rw/loop > /dev/null && echo opened-loop; "
                 "echo ok > /rw/file && echo wrote-file; "
                 "for m in /rw /rw/sub /ro; do echo \"$m $(awk -v m=$m '$5 == m {print $6}' /proc/self/mountinfo)\"; done"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* bad : {"made-in-mount", "made-in-upper", "wrote-kmsg", "wrote-sub-kmsg", "opened-loop"})
    EXPECT_EQ(r.out.find(bad), std::string::npos) << bad << "\n" << r.out << r.err;
  EXPECT_NE(r.out.find("wrote-file"), std::string::npos) << "the mount is not writable: " << r.out << r.err;
  // Refused by the kernel: mknod without CAP_MKNOD, open on a nodev mount.
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  std::istringstream lines(r.out);
  std::map<std::string, std::string> options;
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("/")) options[line.substr(0, line.find(' '))] = line.substr(line.find(' ') + 1);
  for (const char* m : {"/rw", "/rw/sub", "/ro"}) {
    EXPECT_NE(options[m].find("nodev"), std::string::npos) << m << ": " << options[m];
    EXPECT_NE(options[m].find("nosuid"), std::string::npos) << m << ": " << options[m];
  }
  EXPECT_TRUE(options["/ro"].starts_with("ro,")) << options["/ro"];
  EXPECT_TRUE(options["/rw"].starts_with("rw,")) << options["/rw"];
  // Nothing reached the host: the kernel log never saw the canary, and the
  // container made no node in the host directory.
  EXPECT_EQ(run_shell("dmesg | grep -c " + canary).out, "0\n");
  EXPECT_FALSE(std::filesystem::exists(rw + "/made"));
}

TEST_F(ExecCliTest, RootfsDirWorksWithoutAnImage) {
  auto r = exec({"exec", "--rootfs", rootfs(), "--", "sh", "-c", "echo from-rootfs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from-rootfs\n");
}

}  // namespace
}  // namespace gantry::testing
