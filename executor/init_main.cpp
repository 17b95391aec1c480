// `gantry __init`: the container's init, in three processes.
//  1. The spawned init (host pid namespace): reads its config, unshares the
//     namespaces, forks PID 1, forwards signals to it, exits when it exits.
//  2. PID 1 of the new pid namespace: the setup steps (rootfs_setup.cpp and
//     the process steps below), then forks the command, reaps zombies,
//     forwards SIGINT/SIGTERM/…, reports the command's wait status and exits,
//     which makes the kernel kill everything left in the container.
//  3. The command: between fork and exec only async-signal-safe syscalls on
//     data PID 1 prepared (ids, caps, no_new_privs, seccomp), then execve.
// Failures go to the runner side as InitMessage{step, errno} on kStatusFd.
// Each process dies with its parent (PR_SET_PDEATHSIG=SIGKILL), so a runner
// killed with SIGKILL takes its containers with it.
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/file_util.h"
#include "executor/container.h"
#include "executor/init_steps.h"

namespace gantry::executor {
namespace {

constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

void send_message(const InitMessage& m) {
  (void)::send(kStatusFd, &m, sizeof m, MSG_NOSIGNAL);
}

[[noreturn]] void fail_step(Step step, int err, int index = -1) {
  send_message({MessageKind::setup_failed, step, err, 0, index});
  ::_exit(static_cast<int>(StartFailure::cannot_start));
}

sigset_t forwarded_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&set, sig);
  return set;
}

// Waits for `child`; forwards every other signal of the set to it; reaps any
// other child (zombies re-parented to PID 1). Returns the child's wait status.
int supervise(pid_t child) {
  sigset_t set = forwarded_signals();
  for (;;) {
    siginfo_t info;
    int sig = ::sigwaitinfo(&set, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      ::kill(child, sig);
      continue;
    }
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0)
      if (pid == child) return status;
  }
}

// ---- process steps of PID 1 (after pivot_root) ----

int set_hostname(SetupContext& ctx) {
  const auto& h = ctx.config.hostname;
  return ::sethostname(h.data(), h.size()) == 0 ? 0 : errno;
}

int loopback_up(SetupContext& ctx) {
  if (ctx.config.host_network) return 0;
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return errno;
  ifreq req{};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &req) != 0) return errno;
  req.ifr_flags |= IFF_UP | IFF_RUNNING;
  return ::ioctl(sock.get(), SIOCSIFFLAGS, &req) == 0 ? 0 : errno;
}

bool has_env(const std::vector<std::string>& env, const char* key) {
  std::size_t n = std::strlen(key);
  for (const auto& e : env)
    if (e.size() > n && e.compare(0, n, key) == 0 && e[n] == '=') return true;
  return false;
}

int resolve_user_step(SetupContext& ctx) {
  auto passwd = read_file("/etc/passwd");
  auto group = read_file("/etc/group");
  if (int e = resolve_user(ctx.config.user, passwd ? *passwd : "", group ? *group : "", ctx.user)) return e;
  ctx.env = ctx.config.env;
  if (!has_env(ctx.env, "PATH")) ctx.env.emplace_back(kDefaultPath);
  if (!has_env(ctx.env, "HOSTNAME")) ctx.env.push_back("HOSTNAME=" + ctx.config.hostname);
  if (!has_env(ctx.env, "HOME")) ctx.env.push_back("HOME=" + ctx.user.home);
  // The candidates execve tries, as execvp would search PATH.
  const std::string& cmd = ctx.config.argv.at(0);
  if (cmd.find('/') != std::string::npos) {
    ctx.candidates.push_back(cmd);
  } else {
    std::string path;
    for (const auto& e : ctx.env)
      if (e.compare(0, 5, "PATH=") == 0) path = e.substr(5);
    std::size_t start = 0;
    for (;;) {
      auto colon = path.find(':', start);
      std::string dir = path.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      ctx.candidates.push_back((dir.empty() ? std::string(".") : dir) + "/" + cmd);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  return 0;
}

int make_workdir(SetupContext& ctx) {
  const std::string& dir = ctx.config.workdir;
  for (std::size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string prefix = dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return errno;
  }
  return 0;
}

int prepare_caps_step(SetupContext& ctx) { return prepare_caps(ctx.caps); }

constexpr StepEntry kPid1Steps[] = {
    {Step::make_mounts_private, make_mounts_private},
    {Step::mount_scratch, mount_scratch},
    {Step::write_etc_files, write_etc_files},
    {Step::mount_rootfs, mount_rootfs},
    {Step::open_rootfs, open_rootfs},
    {Step::mount_proc, mount_proc},
    {Step::mount_dev, mount_dev},
    {Step::mount_devpts, mount_devpts},
    {Step::mount_shm, mount_shm},
    {Step::mount_sys, mount_sys},
    {Step::mask_paths, mask_paths},
    {Step::readonly_paths, readonly_paths},
    {Step::bind_mounts, bind_mounts},
    {Step::etc_files, etc_files},
    {Step::pivot_root, pivot_into_rootfs},
    {Step::set_hostname, set_hostname},
    {Step::loopback_up, loopback_up},
    {Step::resolve_user, resolve_user_step},
    {Step::make_workdir, make_workdir},
    {Step::prepare_caps, prepare_caps_step},
};

// ---- the command child: async-signal-safe only ----

[[noreturn]] void child_fail(Step step, int err, int code = static_cast<int>(StartFailure::cannot_start)) {
  send_message({MessageKind::setup_failed, step, err, 0, -1});
  ::_exit(code);
}

[[noreturn]] void exec_command(const SetupContext& ctx, char* const* argv, char* const* envp,
                               const char* const* candidates, std::size_t n_candidates) {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::setsid() < 0) child_fail(Step::set_session, errno);
  if (ctx.config.file_size_limit) {
    // Hard too: raising it back needs CAP_SYS_RESOURCE, which the command lacks.
    rlimit fsize{ctx.config.file_size_limit, ctx.config.file_size_limit};
    if (::setrlimit(RLIMIT_FSIZE, &fsize) != 0) child_fail(Step::set_rlimits, errno);
  }
  if (int e = apply_bounding_set(ctx.caps)) child_fail(Step::drop_bounding_caps, e);
  const auto& u = ctx.user;
  if (::syscall(SYS_setgroups, u.groups.size(), u.groups.data()) != 0) child_fail(Step::set_groups, errno);
  if (::syscall(SYS_setresgid, u.gid, u.gid, u.gid) != 0) child_fail(Step::set_gid, errno);
  // Leaving uid 0 clears the permitted and effective sets (no keep-caps).
  if (::syscall(SYS_setresuid, u.uid, u.uid, u.uid) != 0) child_fail(Step::set_uid, errno);
  if (u.uid == 0)
    if (int e = apply_root_caps(ctx.caps)) child_fail(Step::set_caps, e);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(Step::no_new_privs, errno);
  if (::chdir(ctx.config.workdir.c_str()) != 0) child_fail(Step::chdir_workdir, errno);
  if (int e = apply_seccomp(ctx.config.seccomp_bpf)) child_fail(Step::load_seccomp, e);
  int err = ENOENT;
  bool denied = false;
  for (std::size_t i = 0; i < n_candidates; ++i) {
    ::execve(candidates[i], argv, envp);
    if (errno == EACCES) {
      denied = true;
    } else if (errno != ENOENT && errno != ENOTDIR && errno != ENODEV && errno != ESTALE) {
      err = errno;
      break;
    }
  }
  if (err == ENOENT && denied) err = EACCES;
  child_fail(Step::exec_command, err,
             static_cast<int>(err == ENOENT ? StartFailure::not_found : StartFailure::not_executable));
}

[[noreturn]] void pid1_main(const InitConfig& config) {
  SetupContext ctx{config};
  for (const auto& s : kPid1Steps)
    if (int e = s.fn(ctx)) fail_step(s.step, e, ctx.failed_index);

  // Everything the child needs, laid out before fork.
  std::vector<char*> argv, envp;
  std::vector<std::string> args = config.argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : ctx.env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<const char*> candidates;
  for (const auto& c : ctx.candidates) candidates.push_back(c.c_str());

  pid_t child = ::fork();
  if (child < 0) fail_step(Step::fork_command, errno);
  if (child == 0) exec_command(ctx, argv.data(), envp.data(), candidates.data(), candidates.size());
  int status = supervise(child);
  // A full upper tmpfs (Limits::tmpfs_bytes reached) explains many failures.
  struct statfs fs;
  int full = ctx.scratchfd && ::fstatfs(ctx.scratchfd.get(), &fs) == 0 && fs.f_bavail == 0 ? ENOSPC : 0;
  send_message({MessageKind::exited, Step::exec_command, full, status, -1});
  ::_exit(0);  // the kernel kills whatever is left in the pid namespace
}

std::string read_config_fd() {
  std::string data;
  char buf[16384];
  off_t off = 0;
  for (;;) {
    ssize_t n = ::pread(kConfigFd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  ::close(kConfigFd);
  return data;
}

}  // namespace

[[noreturn]] void init_main(int, char**) {
  sigset_t set = forwarded_signals();
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  // Only stdio, the config and the status socket survive into the init.
  if (::syscall(SYS_close_range, kStatusFd + 1, ~0U, 0) != 0)
    for (int fd = kStatusFd + 1; fd < 1024; ++fd) ::close(fd);
  ::fcntl(kStatusFd, F_SETFD, FD_CLOEXEC);

  auto config = InitConfig::parse(read_config_fd());
  if (!config) fail_step(Step::read_config, EINVAL);
  // The spawner set PR_SET_PDEATHSIG before exec; it may have died before.
  if (::getppid() != config->parent_pid) fail_step(Step::parent_died, ESRCH);

  int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP;
  if (!config->host_network) flags |= CLONE_NEWNET;
  if (::unshare(flags) != 0) fail_step(Step::unshare_namespaces, errno);

  int lifeline[2];
  if (::pipe2(lifeline, O_CLOEXEC) != 0) fail_step(Step::fork_pid1, errno);
  pid_t pid1 = ::fork();
  if (pid1 < 0) fail_step(Step::fork_pid1, errno);
  if (pid1 == 0) {
    ::close(lifeline[1]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    pollfd p{lifeline[0], POLLIN, 0};
    if (::poll(&p, 1, 0) > 0 && (p.revents & POLLHUP)) ::_exit(1);  // the spawned init is already gone
    ::close(lifeline[0]);
    pid1_main(*config);
  }
  ::close(lifeline[0]);
  send_message({MessageKind::pid1_started, Step::fork_pid1, 0, pid1, -1});
  int status = supervise(pid1);
  ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

}  // namespace gantry::executor
