#include "common/userns.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/file_util.h"
#include "common/unique_fd.h"

extern char** environ;

namespace gantry::userns {
namespace {

constexpr const char* kEnv = "GANTRY_ROOTLESS";

std::string user_name(uid_t uid) {
  struct passwd pw {}, *out = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &out) == 0 && out) return out->pw_name;
  return {};
}

// The program's full path in PATH, "" when absent.
std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
  dirs += ":/usr/bin:/usr/sbin";  // where Debian's uidmap installs them, even with a narrow PATH
  std::istringstream in(dirs);
  std::string dir;
  while (std::getline(in, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

bool id_in_map(const char* file, std::uint32_t id) {
  std::ifstream in(file);
  std::uint64_t inside, outside, count;
  while (in >> inside >> outside >> count)
    if (id >= inside && id - inside < count) return true;
  return false;
}

// Runs a map helper (newuidmap/newgidmap), capturing its stderr.
Status run_map_helper(const std::string& helper, pid_t pid, const std::string& map) {
  std::vector<std::string> args{helper, std::to_string(pid)};
  std::istringstream words(map);
  for (std::string w; words >> w;) args.push_back(w);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return fail_sys("pipe", helper);
  UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
  pid_t child = -1;
  int rc = ::posix_spawn(&child, helper.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  err_write.reset();
  if (rc != 0) return fail_sys("run", helper, rc);
  std::string err;
  char buf[512];
  for (ssize_t n; (n = ::read(err_read.get(), buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    err.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  while (!err.empty() && err.back() == '\n') err.pop_back();
  std::string cmd;
  for (const auto& a : args) cmd += (cmd.empty() ? "" : " ") + a;
  return fail(ErrorKind::io, cmd + " failed" + (err.empty() ? "" : ": " + err) +
                                 " (check the user's ranges in /etc/subuid and /etc/subgid, or set "
                                 "GANTRY_ROOTLESS_MAPPING=single)");
}

Status write_proc_file(pid_t pid, const char* name, const std::string& text) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return fail_sys("open", path);
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return fail_sys("write '" + text.substr(0, text.find('\n')) + "' to", path);
  return {};
}

Status write_mapping(pid_t pid, const Plan& plan) {
  if (plan.mapping == Mapping::subordinate) {
    TRY(run_map_helper(find_in_path("newuidmap"), pid, plan.uid_map));
    return run_map_helper(find_in_path("newgidmap"), pid, plan.gid_map);
  }
  // An unprivileged process may map its own ids only, and its gid only once
  // setgroups(2) is denied in the namespace (user_namespaces(7)).
  TRY(write_proc_file(pid, "setgroups", "deny"));
  TRY(write_proc_file(pid, "uid_map", plan.uid_map));
  return write_proc_file(pid, "gid_map", plan.gid_map);
}

bool read_int(int fd, int& value) {
  for (;;) {
    ssize_t n = ::read(fd, &value, sizeof value);
    if (n < 0 && errno == EINTR) continue;
    return n == static_cast<ssize_t>(sizeof value);
  }
}

// The namespace's first process: waits for the mapping, becomes 0:0 there
// and runs gantry again. Only async-signal-safe calls (forked from a process
// that may have threads).
[[noreturn]] void child_main(char** argv, char** envp, int ready_fd, int go_fd, pid_t parent, const sigset_t& mask,
                             bool may_setgroups) {
  int err = ::unshare(CLONE_NEWUSER) == 0 ? 0 : errno;
  (void)!::write(ready_fd, &err, sizeof err);
  if (err) ::_exit(125);
  char go = 0;
  while (::read(go_fd, &go, 1) < 0 && errno == EINTR) {
  }
  if (go != 1) ::_exit(125);  // the parent could not map the ids (it reports why)
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (::getppid() != parent) ::_exit(125);
  // The user's host groups are not mapped (they would show as nobody): none.
  if (may_setgroups && ::setgroups(0, nullptr) != 0) err = errno;
  if (!err && (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0)) err = errno;
  if (!err) {
    ::sigprocmask(SIG_SETMASK, &mask, nullptr);
    ::execve("/proc/self/exe", argv, envp);
    err = errno;
  }
  (void)!::write(ready_fd, &err, sizeof err);
  ::_exit(125);
}

int wait_forwarding(pid_t child) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, s);
  for (;;) {
    int status = 0;
    pid_t got = ::waitpid(child, &status, WNOHANG);
    if (got == child) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    siginfo_t info{};
    int sig = ::sigwaitinfo(&set, &info);
    if (sig <= 0 || sig == SIGCHLD) continue;
    // The terminal sends SIGINT/SIGQUIT to the whole foreground group: the
    // child has it already. Anything sent to this process alone is passed on.
    if ((sig == SIGINT || sig == SIGQUIT) && info.si_code == SI_KERNEL) continue;
    ::kill(child, sig);
  }
}

}  // namespace

const char* mapping_name(Mapping m) {
  switch (m) {
    case Mapping::none: return "none";
    case Mapping::subordinate: return "subordinate";
    case Mapping::single: return "single";
  }
  return "none";
}

Mapping current() {
  static const Mapping m = [] {
    const char* v = std::getenv(kEnv);
    if (!v || ::geteuid() != 0) return Mapping::none;
    if (std::strcmp(v, "subordinate") == 0) return Mapping::subordinate;
    if (std::strcmp(v, "single") == 0) return Mapping::single;
    return Mapping::none;
  }();
  return m;
}

std::optional<SubordinateRange> subordinate_range(const std::string& file, uid_t id, const std::string& name) {
  std::ifstream in(file);
  std::string line;
  const std::string number = std::to_string(id);
  while (std::getline(in, line)) {
    auto a = line.find(':'), b = line.find(':', a == std::string::npos ? a : a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string who = line.substr(0, a);
    if (who != number && (name.empty() || who != name)) continue;
    try {
      unsigned long start = std::stoul(line.substr(a + 1, b - a - 1));
      unsigned long count = std::stoul(line.substr(b + 1));
      if (count == 0 || start > UINT32_MAX || count > UINT32_MAX - start) continue;
      return SubordinateRange{static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(count)};
    } catch (const std::exception&) {
      continue;
    }
  }
  return std::nullopt;
}

Result<Plan> plan_mapping(uid_t uid, gid_t gid) {
  Plan plan;
  plan.uid_map = "0 " + std::to_string(uid) + " 1\n";
  plan.gid_map = "0 " + std::to_string(gid) + " 1\n";
  const char* forced = std::getenv("GANTRY_ROOTLESS_MAPPING");
  if (forced && std::strcmp(forced, "single") == 0) return plan;
  if (forced && *forced && std::strcmp(forced, "auto") != 0)
    return fail(ErrorKind::invalid_input,
                std::string("GANTRY_ROOTLESS_MAPPING='") + forced + "': expected 'single' or 'auto'");
  std::string name = user_name(uid);
  auto uids = subordinate_range("/etc/subuid", uid, name);
  auto gids = subordinate_range("/etc/subgid", uid, name);
  if (!uids || !gids) {
    plan.note = "no subordinate " + std::string(!uids ? "uids in /etc/subuid" : "gids in /etc/subgid") + " for " +
                (name.empty() ? "uid " + std::to_string(uid) : name);
    return plan;
  }
  std::string missing;
  for (const char* helper : {"newuidmap", "newgidmap"})
    if (find_in_path(helper).empty()) missing += missing.empty() ? helper : std::string(", ") + helper;
  if (!missing.empty()) {
    plan.note = missing + " not found; install uidmap (Debian: apt-get install uidmap) to use the subordinate ids of " +
                name;
    return plan;
  }
  plan.mapping = Mapping::subordinate;
  plan.uid_map += "1 " + std::to_string(uids->start) + " " + std::to_string(uids->count) + "\n";
  plan.gid_map += "1 " + std::to_string(gids->start) + " " + std::to_string(gids->count) + "\n";
  return plan;
}

Result<int> reexec_in_user_namespace(char** argv) {
  uid_t uid = ::getuid();
  Plan plan = TRY(plan_mapping(uid, ::getgid()));
  std::string marker = std::string(kEnv) + "=" + mapping_name(plan.mapping);
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, kEnv, std::strlen(kEnv)) != 0 || (*e)[std::strlen(kEnv)] != '=') envp.push_back(*e);
  envp.push_back(marker.data());
  envp.push_back(nullptr);

  int ready[2], go[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return fail_sys("pipe", "user namespace setup");
  UniqueFd ready_read(ready[0]), ready_write(ready[1]);
  if (::pipe2(go, O_CLOEXEC) != 0) return fail_sys("pipe", "user namespace setup");
  UniqueFd go_read(go[0]), go_write(go[1]);

  // Blocked from before the fork: the parent waits for them; the child
  // restores the old mask right before exec.
  sigset_t waited, old;
  sigemptyset(&waited);
  for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&waited, s);
  ::sigprocmask(SIG_BLOCK, &waited, &old);
  pid_t parent = ::getpid();
  pid_t child = ::fork();
  if (child < 0) {
    int err = errno;
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    return fail_sys("fork", "the user namespace's first process", err);
  }
  if (child == 0)
    child_main(argv, envp.data(), ready_write.get(), go_read.get(), parent, old,
               plan.mapping == Mapping::subordinate);
  ready_write.reset();
  go_read.reset();
  // From here on the child is ours to reap on every path.
  auto abandon = [&](Error error) -> Result<int> {
    go_write.reset();  // the child exits on EOF
    int status;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    return fail(std::move(error));
  };
  int err = 0;
  if (!read_int(ready_read.get(), err))
    return abandon(Error(ErrorKind::io, "the user namespace's first process ended before unshare"));
  if (err == EPERM || err == ENOSPC || err == EINVAL)
    return abandon(sys_error("unshare(CLONE_NEWUSER)", "a user namespace for gantry without root", err)
                       .context("this kernel refuses user namespaces to unprivileged users (sysctl "
                                "user.max_user_namespaces, kernel.unprivileged_userns_clone, or an AppArmor/"
                                "SELinux policy); run gantry as root or allow them"));
  if (err) return abandon(sys_error("unshare(CLONE_NEWUSER)", "a user namespace for gantry without root", err));
  // Subordinate ids the user has but cannot use: say so (no ranges at all is
  // the documented single-id case, not worth a line on every command).
  if (plan.note.find("not found") != std::string::npos)
    std::fprintf(stderr,
                 "gantry: %s: gantry maps only your own id (to root) in its user namespace: files owned by other "
                 "ids in an image show as root, and chown to another id fails (docs/rootless.md)\n",
                 plan.note.c_str());
  if (auto st = write_mapping(child, plan); !st) return abandon(std::move(st).error().context("mapping the ids"));
  char one = 1;
  if (::write(go_write.get(), &one, 1) != 1) return abandon(sys_error("write", "user namespace setup pipe"));
  go_write.reset();
  // EOF: exec'd (the pipe is close-on-exec); an int: why not.
  if (read_int(ready_read.get(), err)) {
    int status;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    return fail_sys("exec /proc/self/exe as root of the user namespace", "gantry", err);
  }
  ready_read.reset();
  int rc = wait_forwarding(child);
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  return rc;
}

bool uid_mapped(uid_t id) { return id_in_map("/proc/self/uid_map", id); }
bool gid_mapped(gid_t id) { return id_in_map("/proc/self/gid_map", id); }

}  // namespace gantry::userns
