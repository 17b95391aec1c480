// Isolation, asserted from inside a busybox container.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "common/file_util.h"
#include "common/unique_fd.h"
#include "tests/executor/executor_fixture.h"

namespace gantry::testing {
namespace {

using executor::NetworkMode;

TEST_F(ExecutorTest, ProcessTreeStartsAtInitAndShowsNoHostProcess) {
  auto ran = run(sh("cat /proc/1/cmdline | tr '\\0' ' '; echo; "
                    "for p in /proc/[0-9]*; do echo \"pid ${p#/proc/} $(tr '\\0' ' ' < $p/cmdline)\"; done; echo self $$"));
  ASSERT_RAN(ran);
  EXPECT_EQ(ran.result->exit_code, 0) << ran.err;
  ASSERT_FALSE(ran.out_lines.empty());
  EXPECT_NE(ran.out_lines[0].find("gantry-init"), std::string::npos) << "PID 1 is not the init: " << ran.out;
  EXPECT_EQ(ran.out_lines.back(), "self 2");  // the command is the init's first child
  int processes = 0;
  for (const auto& line : ran.out_lines) {
    if (line.rfind("pid ", 0) != 0) continue;
    ++processes;
    EXPECT_EQ(line.find("gantry_executor_tests"), std::string::npos) << "a host process is visible: " << line;
  }
  // init, sh, and the short-lived helpers of the loop at most.
  EXPECT_GE(processes, 2);
  EXPECT_LE(processes, 6) << ran.out;
}

TEST_F(ExecutorTest, HostFilesAreInvisible) {
  std::string marker = "/tmp/gantry-host-marker-" + unique_suffix();
  write_file(marker, "secret");
  auto ran = run(sh("if [ -e " + marker + " ]; then echo visible; else echo hidden; fi"));
  ::unlink(marker.c_str());
  ASSERT_RAN(ran);
  EXPECT_EQ(ran.out, "hidden\n");
}

// A TCP server on the host's loopback; counts what reached it.
class LoopbackServer {
 public:
  LoopbackServer() {
    fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_.get(), 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  int port() const { return port_; }
  // Connections that arrived (the backlog holds them even without accept()).
  int accepted_now() {
    int n = 0;
    for (;;) {
      int c = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return n;
      ::close(c);
      ++n;
    }
  }

 private:
  UniqueFd fd_;
  int port_ = 0;
};

TEST_F(ExecutorTest, NetworkNoneCannotReachHostLoopback) {
  LoopbackServer server;
  auto s = sh("echo hi | nc 127.0.0.1 " + std::to_string(server.port()) + " && echo connected || echo refused");
  s.timeout = std::chrono::seconds(20);
  auto ran = run(s);
  ASSERT_RAN(ran);
  EXPECT_EQ(ran.out, "refused\n") << ran.err;
  EXPECT_EQ(server.accepted_now(), 0);
  // Loopback inside the container is up: its own listener is reachable.
  // (The client retries until the listener is up: no guess at how long that takes.)
  auto lo = run(sh("nc -l -p 7777 >/dev/null & for i in $(seq 600); do "
                   "echo x | nc 127.0.0.1 7777 2>/dev/null && { echo lo-up; break; }; sleep 0.05; done"));
  ASSERT_RAN(lo);
  EXPECT_NE(lo.out.find("lo-up"), std::string::npos) << lo.err;
}

TEST_F(ExecutorTest, NetworkHostReachesHostLoopback) {
  LoopbackServer server;
  auto s = sh("echo hi | nc -w 2 127.0.0.1 " + std::to_string(server.port()) + "; echo done");
  s.network = NetworkMode::host;
  s.timeout = std::chrono::seconds(20);
  auto ran = run(s);
  ASSERT_RAN(ran);
  EXPECT_EQ(server.accepted_now(), 1) << ran.out << ran.err;
}

TEST_F(ExecutorTest, MountUnshareSysrqAndModulesAreRefused) {
  // A module file that gets past busybox's own checks to init_module(2).
  write_file(rootfs() + "/fake.ko", "\x7f" "ELF" + std::string(4096, '\0'));
  // Some kernels (this VM's) have no /proc/sysrq-trigger: /proc/sys is read-only the same way.
  bool has_sysrq = ::access("/proc/sysrq-trigger", F_OK) == 0;
  auto ran = run(sh(std::string("mkdir -p /mnt; mount -t tmpfs none /mnt && echo mount-ok; "
                                "unshare -n true && echo unshare-ok; ") +
                    (has_sysrq ? "echo h > /proc/sysrq-trigger && echo sysrq-ok; " : "") +
                    "echo gantry > /proc/sys/kernel/domainname && echo procsys-ok; "
                    "insmod /fake.ko && echo insmod-ok; "
                    "grep -E '^(Seccomp|NoNewPrivs|CapEff|CapBnd):' /proc/self/status; echo end"));
  ASSERT_RAN(ran);
  EXPECT_EQ(ran.result->exit_code, 0);
  for (const char* ok : {"mount-ok", "unshare-ok", "sysrq-ok", "procsys-ok", "insmod-ok"})
    EXPECT_EQ(ran.out.find(ok), std::string::npos) << ok << "\n" << ran.out << ran.err;
  EXPECT_NE(ran.out.find("Seccomp:\t2"), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find("NoNewPrivs:\t1"), std::string::npos) << ran.out;
  // Docker's default set without mknod: chown dac_override fowner fsetid kill
  // setgid setuid setpcap net_bind_service net_raw sys_chroot audit_write setfcap.
  EXPECT_NE(ran.out.find("CapEff:\t00000000a00425fb"), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find("CapBnd:\t00000000a00425fb"), std::string::npos) << ran.out;
  // The refusals come from the kernel (seccomp EPERM, read-only mounts), not from missing tools.
  EXPECT_NE(ran.err.find("unshare(0x40000000): Operation not permitted"), std::string::npos) << ran.err;
  EXPECT_NE(ran.err.find("Operation not permitted"), ran.err.rfind("Operation not permitted")) << ran.err;
  EXPECT_NE(ran.err.find("Read-only file system"), std::string::npos) << ran.err;
}

TEST_F(ExecutorTest, MaskedPathsAndDevicesAreMinimal) {
  auto ran = run(sh("wc -c < /proc/keys; ls /sys/firmware | wc -l; ls /dev | tr '\\n' ' '; echo; "
                    "echo x > /dev/null && echo null-ok; head -c 4 /dev/urandom | wc -c; "
                    "mknod /tmp/sda b 8 0 && (head -c 1 /tmp/sda >/dev/null 2>&1 && echo disk-readable || echo disk-blocked)"));
  ASSERT_RAN(ran);
  ASSERT_GE(ran.out_lines.size(), 5u) << ran.out << ran.err;
  EXPECT_EQ(ran.out_lines[0], "0");  // /proc/keys is /dev/null
  EXPECT_EQ(ran.out_lines[1], "0");  // /sys/firmware is an empty read-only tmpfs
  for (const char* dev : {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm"})
    EXPECT_NE(ran.out_lines[2].find(dev), std::string::npos) << dev << " missing from /dev: " << ran.out_lines[2];
  EXPECT_EQ(ran.out_lines[3], "null-ok");
  EXPECT_EQ(ran.out_lines[4], "4");
  EXPECT_EQ(ran.out.find("disk-readable"), std::string::npos) << "a host block device was readable";
}

TEST_F(ExecutorTest, HostnameIsTheContainers) {
  auto s = sh("hostname; cat /etc/hostname; grep -c box-one /etc/hosts");
  s.hostname = "box-one";
  auto ran = run(s);
  ASSERT_RAN(ran);
  EXPECT_EQ(ran.out, "box-one\nbox-one\n1\n");
  auto dflt = run(sh("hostname"));
  ASSERT_RAN(dflt);
  EXPECT_EQ(dflt.out, dflt.result->id + "\n");
}

TEST_F(ExecutorTest, EveryContainerIsFresh) {
  auto first = run(sh("echo data > /tmp/left-behind; echo data > /root/also; ls /tmp"));
  ASSERT_RAN(first);
  EXPECT_EQ(first.out, "left-behind\n");
  auto second = run(sh("ls -A /tmp; test -e /root/also && echo still-there || echo gone"));
  ASSERT_RAN(second);
  EXPECT_EQ(second.out, "gone\n");
  EXPECT_FALSE(::access((rootfs() + "/tmp/left-behind").c_str(), F_OK) == 0) << "a write reached the lower dir";
}

}  // namespace
}  // namespace gantry::testing
