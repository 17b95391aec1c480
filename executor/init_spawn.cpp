#include "executor/init_spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "executor/container.h"
#include "executor/init_protocol.h"

namespace gantry::executor {
namespace {

struct ChildArgs {
  const char* path;
  const std::vector<UniqueFd>* cgroup_procs;
  int netns_fd;  // -1: the namespace clone() made
  InitFds fds;
  int devnull;
  // Set by the child before it exits instead of exec'ing (it shares our memory).
  int err;
  const char* what;
};

// The cloned child: shares the caller's memory (which waits, CLONE_VFORK)
// until execve, so only async-signal-safe syscalls, no allocation.
int child_main(void* p) {
  auto* a = static_cast<ChildArgs*>(p);
  auto fail = [a](const char* what) {
    a->err = errno;
    a->what = what;
    ::_exit(static_cast<int>(StartFailure::cannot_start));
  };
  // A network namespace shared with other containers (a stage and its services).
  if (a->netns_fd >= 0 && ::setns(a->netns_fd, CLONE_NEWNET) != 0) fail("joining the shared network namespace");
  for (const auto& fd : *a->cgroup_procs)
    if (::write(fd.get(), "0", 1) != 1) fail("joining the container's cgroup");
  // The cgroup namespace is rooted at the cgroups just joined.
  if (::unshare(CLONE_NEWCGROUP) != 0) fail("unshare(CLONE_NEWCGROUP)");
  if (::dup2(a->devnull, 0) < 0 || ::dup2(a->fds.out, 1) < 0 || ::dup2(a->fds.err, 2) < 0 ||
      ::dup2(a->fds.config, kConfigFd) < 0 || ::dup2(a->fds.status, kStatusFd) < 0)
    fail("dup2");
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  char name[] = GANTRY_INIT_NAME;
  char* argv[] = {name, nullptr};
  char* envp[] = {nullptr};
  ::execve(a->path, argv, envp);
  fail("exec");
  return 0;
}

}  // namespace

const std::string& default_init_binary() {
  static const std::string path = [] {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    std::string exe = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    auto slash = exe.rfind('/');
    return (slash == std::string::npos ? std::string(".") : exe.substr(0, slash)) + "/" + GANTRY_INIT_NAME;
  }();
  return path;
}

Result<SpawnedInit> spawn_init(const std::string& init_binary, bool host_network, int netns_fd,
                               const std::vector<UniqueFd>& cgroup_procs, const InitFds& fds) {
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull) return fail_sys("open", "/dev/null");
  UniqueFd devnull_hi(::fcntl(devnull.get(), F_DUPFD_CLOEXEC, kStatusFd + 1));
  if (!devnull_hi) return fail_sys("fcntl F_DUPFD", "/dev/null");

  constexpr std::size_t kStack = 64 * 1024;
  void* stack = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return fail_sys("mmap", "init spawn stack");
  ChildArgs args{init_binary.c_str(), &cgroup_procs, netns_fd, fds, devnull_hi.get(), 0, nullptr};

  int flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD;
  if (!host_network && netns_fd < 0) flags |= CLONE_NEWNET;
  // Every signal blocked across the clone: no handler of ours may run in the
  // child while it shares our memory. The init sets its own mask.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  int pidfd = -1;
  pid_t pid = ::clone(child_main, static_cast<char*>(stack) + kStack, flags, &args, &pidfd);
  int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::munmap(stack, kStack);
  if (pid < 0) return fail(Error(ErrorKind::io, std::string("clone of the container init: ") + std::strerror(clone_errno),
                                 -static_cast<int>(StartFailure::cannot_start)));
  SpawnedInit spawned{pid, UniqueFd(pidfd)};
  if (args.what) {
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return fail(Error(ErrorKind::io,
                      std::string("starting the container init ") + init_binary + ": " + args.what + ": " +
                          std::strerror(args.err),
                      -static_cast<int>(StartFailure::cannot_start)));
  }
  return spawned;
}

}  // namespace gantry::executor
