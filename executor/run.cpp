// run(): the runner side of one container. Prepares the container dir and
// cgroups, clones the container's PID 1 (init_spawn.cpp: the static
// gantry-init, the config memfd on fd 3, the status socket on fd 4, the
// cgroups joined and PR_SET_PDEATHSIG set before exec), streams output line by
// line, enforces the timeout and the cancellation, then collects the result
// and removes everything. RAII owns every piece, so every return path cleans up.
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <system_error>

#include <spdlog/spdlog.h>

#include "common/file_util.h"
#include "common/phase_trace.h"
#include "common/userns.h"
#include "executor/cgroup.h"
#include "executor/container.h"
#include "executor/container_dir.h"
#include "executor/init_protocol.h"
#include "executor/init_spawn.h"
#include "executor/line_splitter.h"
#include "executor/security.h"
#include "executor/spec_check.h"

namespace gantry::executor {
namespace {

using Clock = std::chrono::steady_clock;

std::string new_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                          static_cast<std::uint64_t>(Clock::now().time_since_epoch().count())};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(buf, 12);
}

// Sweeps each work_root once per process, before its first container.
void sweep_once(const std::string& work_root) {
  static std::mutex mu;
  static std::set<std::string> done;
  std::lock_guard lock(mu);
  if (!done.insert(work_root).second) return;
  // Housekeeping only: a leftover that cannot be removed must not stop this
  // container, but it is reported (it may hold a cgroup or disk space).
  auto swept = sweep_leftovers(work_root);
  if (!swept)
    spdlog::warn("cannot sweep the leftovers of crashed containers in {}: {}", work_root, swept.error().message());
  else if (*swept > 0)
    spdlog::debug("swept {} leftover containers in {}", *swept, work_root);
}

Result<UniqueFd> config_memfd(const InitConfig& config) {
  UniqueFd fd(::memfd_create("gantry-init-config", MFD_CLOEXEC));
  if (!fd) return fail_sys("memfd_create", "init config");
  std::string data = config.serialize();
  if (::write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size()))
    return fail_sys("write", "init config memfd");
  return fd;
}

// Kills PID 1 (pidfd: no pid reuse race), and so the whole pid namespace,
// and every process in the container's cgroups.
struct Supervised {
  pid_t pid = -1;
  UniqueFd pidfd;
  const ContainerCgroups* cgroups = nullptr;
  bool reaped = false;

  void signal(int sig) const {
    if (!reaped && pidfd) ::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0);
  }
  void kill_all() const {
    signal(SIGKILL);
    if (cgroups) cgroups->kill_all();
  }
  // PID 1 is reaped only after the kernel reaped every other process of its
  // pid namespace (and with them the mount namespace and its overlay).
  int wait() {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    reaped = true;
    return status;
  }
  ~Supervised() {
    if (pid > 0 && !reaped) {
      kill_all();
      wait();
    }
  }
};

std::atomic<bool> g_require_limits{false};

// Without root: the limits a delegated cgroup can carry, or none (said once),
// or a refusal with --require-limits.
Result<Limits> enforceable_limits(const Limits& wanted) {
  if (!userns::rootless() || (!wanted.memory_bytes && !wanted.pids && !wanted.cpus)) return wanted;
  auto problem = rootless_cgroup_problem(wanted);
  if (!problem) return wanted;
  if (g_require_limits)
    return fail(Error(ErrorKind::invalid_input,
                      "--require-limits: the container's memory/pids/cpu limits cannot be enforced without root: " +
                          *problem + " (docs/rootless.md: run gantry in a delegated cgroup, e.g. systemd-run --user "
                                     "--scope -p Delegate=yes gantry ...)",
                      -static_cast<int>(StartFailure::cannot_start)));
  static std::once_flag warned;
  std::call_once(warned, [&] {
    spdlog::warn("memory/pids/cpu limits are NOT enforced: gantry runs without root and {}; the containers run "
                 "without them (docs/rootless.md: a delegated cgroup, e.g. systemd-run --user --scope -p "
                 "Delegate=yes; --require-limits refuses instead)",
                 *problem);
  });
  Limits out = wanted;
  out.memory_bytes.reset();
  out.pids.reset();
  out.cpus.reset();
  return out;
}

}  // namespace

void set_require_limits(bool required) { g_require_limits = required; }

Result<ContainerResult> run(const ContainerSpec& spec, std::stop_token stop) {
  trace::phase("run");
  TRY(check_spec(spec));
  sweep_once(spec.work_root);
  trace::phase("spec_checked");
  auto bpf = TRY_CTX(default_seccomp_bpf(), "building the seccomp profile");
  trace::phase("seccomp_ready");

  ContainerResult result;
  result.id = new_id();
  // A kept upper must be on disk; a thrown-away one lives in a tmpfs of the container.
  // Nothing on disk at all unless an upper is kept or cgroups must be recorded.
  const Limits limits = TRY(enforceable_limits(spec.limits));
  const auto& l = limits;
  bool disk_upper = spec.keep_upper || spec.upper_on_disk;
  bool needs_disk = disk_upper || l.memory_bytes || l.pids || l.cpus;
  ContainerDir dir = ContainerDir::in_memory_only(spec.work_root, result.id);
  if (needs_disk)
    dir = TRY_CTX(ContainerDir::create(spec.work_root, result.id, disk_upper),
                  "creating the container dir");
  else
    TRY(make_dirs(ContainerDir::memory_mount_point(spec.work_root), 0755));
  std::string hostname = spec.hostname.empty() ? result.id : spec.hostname;
  auto cgroups = TRY(ContainerCgroups::create(result.id, limits, dir.cgroups_record()));
  trace::phase("container_dir_ready");

  InitConfig config;
  config.id = result.id;
  config.lowerdirs = spec.lowerdirs;
  config.upper_dir = dir.upper();
  config.work_dir = dir.work();
  config.rootfs = dir.rootfs();
  config.etc_dir = dir.etc();
  config.scratch_dir = dir.path();
  config.scratch_tmpfs = !disk_upper;
  config.scratch_mount = dir.on_disk() ? dir.path() : ContainerDir::memory_mount_point(spec.work_root);
  if (!disk_upper) config.scratch_tmpfs_bytes = l.tmpfs_bytes.value_or(0);
  config.file_size_limit = l.file_bytes.value_or(0);
  config.argv = spec.argv;
  config.env = spec.env;
  config.workdir = spec.workdir.empty() ? "/" : spec.workdir;
  config.user = spec.user;
  config.hostname = hostname;
  for (const auto& m : spec.mounts) config.mounts.push_back({m.source, m.target, m.read_only});
  config.host_network = spec.network == NetworkMode::host;
  for (const auto& [name, address] : spec.extra_hosts) config.extra_hosts += address + "\t" + name + "\n";
  config.seccomp_bpf = bpf;
  config.caps_keep = default_capability_mask();
  config.trace_phases = trace::enabled();
  config.rootless = userns::rootless();
  auto memfd = TRY(config_memfd(config));
  trace::phase("config_written");

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return fail_sys("socketpair", "init status");
  UniqueFd status_ours(sv[0]), status_theirs(sv[1]);
  int out_fds[2], err_fds[2];
  if (::pipe2(out_fds, O_CLOEXEC) != 0) return fail_sys("pipe", "stdout");
  UniqueFd out_read(out_fds[0]), out_write(out_fds[1]);
  if (::pipe2(err_fds, O_CLOEXEC) != 0) return fail_sys("pipe", "stderr");
  UniqueFd err_read(err_fds[0]), err_write(err_fds[1]);
  // High, private copies so the dup2s onto 1 to 4 cannot clobber each other.
  auto high = [](int fd) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 10)); };
  UniqueFd config_hi = high(memfd.get()), status_hi = high(status_theirs.get());
  UniqueFd out_hi = high(out_write.get()), err_hi = high(err_write.get());
  if (!config_hi || !status_hi || !out_hi || !err_hi) return fail_sys("fcntl F_DUPFD", "init fds");
  UniqueFd stop_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd) return fail_sys("eventfd", "cancellation");

  auto start = Clock::now();
  trace::phase("clone");
  const std::string& init_binary = spec.init_binary.empty() ? default_init_binary() : spec.init_binary;
  auto spawned = TRY(spawn_init(init_binary, config.host_network, spec.netns_fd, cgroups.procs_fds(),
                                {out_hi.get(), err_hi.get(), config_hi.get(), status_hi.get()}));
  Supervised sup;
  sup.pid = spawned.pid;
  sup.pidfd = std::move(spawned.pidfd);
  sup.cgroups = &cgroups;
  for (UniqueFd* fd : {&config_hi, &status_hi, &out_hi, &err_hi, &out_write, &err_write, &status_theirs, &memfd})
    fd->reset();
  // The caller stays for the whole container (a `gantry exec` per container
  // is its only supervisor): hand back the heap pages setup freed (the
  // seccomp build's, the config's, the CLI's parsing), ~0.5 MB per process.
  ::malloc_trim(0);

  std::stop_callback on_stop(stop, [&] {
    std::uint64_t one = 1;
    (void)!::write(stop_fd.get(), &one, sizeof one);
  });
  LineSplitter out_lines(Stream::out, spec.output), err_lines(Stream::err, spec.output);
  std::optional<InitMessage> failure, exited;
  bool init_done = false, out_open = true, err_open = true, status_open = true;
  std::optional<Clock::time_point> deadline, kill_at;
  if (spec.timeout) deadline = start + *spec.timeout;
  // Not zero-filled: a container that prints nothing (a service, a `sleep`)
  // never touches these pages, so a supervisor of many costs no 64 KiB each.
  constexpr std::size_t kReadChunk = 64 * 1024;
  auto buf = std::make_unique_for_overwrite<char[]>(kReadChunk);

  while (!init_done || out_open || err_open) {
    pollfd fds[5] = {{out_open ? out_read.get() : -1, POLLIN, 0},
                     {err_open ? err_read.get() : -1, POLLIN, 0},
                     {status_open ? status_ours.get() : -1, POLLIN, 0},
                     {init_done ? -1 : sup.pidfd.get(), POLLIN, 0},
                     {stop_fd.get(), POLLIN, 0}};
    int wait_ms = -1;
    auto now = Clock::now();
    for (auto t : {deadline, kill_at})
      if (t) {
        auto ms = std::chrono::ceil<std::chrono::milliseconds>(*t - now).count();
        wait_ms = wait_ms < 0 ? static_cast<int>(std::max<long long>(ms, 0)) : std::min<int>(wait_ms, std::max<long long>(ms, 0));
      }
    int n = ::poll(fds, 5, wait_ms);
    if (n < 0 && errno != EINTR) return fail_sys("poll", "container " + result.id);
    now = Clock::now();
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = ::read(fds[i].fd, buf.get(), kReadChunk);
      if (got > 0) {
        (i == 0 ? out_lines : err_lines).feed(std::string_view(buf.get(), static_cast<std::size_t>(got)));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        (i == 0 ? out_open : err_open) = false;
      }
    }
    if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      InitMessage m;
      ssize_t got = ::recv(status_ours.get(), &m, sizeof m, MSG_DONTWAIT);
      if (got == sizeof m) {
        if (m.kind == MessageKind::setup_failed && !failure) failure = m;
        if (m.kind == MessageKind::exited) exited = m;
        if (m.kind == MessageKind::phase) trace::phase_at(std::string("init.") + step_name(m.step), m.time_ns);
      } else if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
        status_open = false;
      }
    }
    if (fds[3].revents & POLLIN) init_done = true;
    if (fds[4].revents & POLLIN) {
      std::uint64_t v;
      (void)!::read(stop_fd.get(), &v, sizeof v);
      if (!result.cancelled && !init_done) {
        result.cancelled = true;
        sup.signal(SIGTERM);  // PID 1 forwards it to the command
        kill_at = now + spec.stop_grace;
      }
    }
    if (deadline && now >= *deadline && !init_done) {
      result.timed_out = true;
      sup.kill_all();
      deadline.reset();
    }
    if (kill_at && now >= *kill_at) {
      if (!init_done) sup.kill_all();
      kill_at.reset();
    }
    if (init_done && (result.timed_out || result.cancelled)) {
      // Killed: stragglers may still hold the pipes while the kernel tears
      // the pid namespace down; kill them through the cgroups.
      if (out_open || err_open) cgroups.kill_all();
    }
  }
  // Drain a status message that raced with the end of the init.
  for (InitMessage m; ::recv(status_ours.get(), &m, sizeof m, MSG_DONTWAIT) == sizeof m;) {
    if (m.kind == MessageKind::setup_failed && !failure) failure = m;
    if (m.kind == MessageKind::exited) exited = m;
    if (m.kind == MessageKind::phase) trace::phase_at(std::string("init.") + step_name(m.step), m.time_ns);
  }
  out_lines.finish();
  err_lines.finish();
  int init_status = sup.wait();
  trace::phase("reaped");
  result.wall_time = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  result.oom_killed = cgroups.oom_killed();
  TRY_CTX(cgroups.remove(), "removing the container's cgroups");

  if (failure && !result.timed_out && !result.cancelled) {
    // A setup step (in the init, PID 1 or the command child before exec) failed.
    return fail(init_failure(spec, *failure));
  } else if (exited) {
    int st = exited->status;
    result.upper_full = exited->err == ENOSPC;
    if (WIFSIGNALED(st)) {
      result.signal = WTERMSIG(st);
      result.exit_code = 128 + result.signal;
    } else {
      result.exit_code = WEXITSTATUS(st);
    }
  } else if (result.timed_out || result.cancelled || result.oom_killed) {
    result.signal = SIGKILL;
    result.exit_code = 128 + SIGKILL;
  } else {
    return fail(Error(ErrorKind::internal,
                      "the container init ended without a report (wait status " + std::to_string(init_status) +
                          "); is " + init_binary + " gantry's " GANTRY_INIT_NAME "?",
                      -static_cast<int>(StartFailure::cannot_start)));
  }

  if (spec.keep_upper) {
    std::string kept = (spec.kept_upper_dir.empty() ? spec.work_root : spec.kept_upper_dir) + "/upper-" + result.id;
    if (::rename(dir.upper().c_str(), kept.c_str()) != 0) return fail_sys("rename", dir.upper());
    result.upper_dir = kept;
  }
  TRY_CTX(dir.remove(), "removing the container dir");
  trace::phase("torn_down");
  return result;
}

}  // namespace gantry::executor
