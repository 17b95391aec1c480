/* gantry-init: PID 1 of a container. A small static C program (no
 * libstdc++, no dynamic loader): run() clones it straight into the new
 * namespaces (init_spawn.cpp), so it starts in well under a millisecond and
 * costs ~100 KB while the container runs.
 *  1. PID 1: reads its config (fd 3), runs the setup steps (rootfs.c, then
 *     process.c), forks the command, reaps zombies, forwards SIGINT, SIGTERM,
 *     SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 to it, reports the command's wait
 *     status and exits, which makes the kernel kill everything left in the
 *     container.
 *  2. The command: exec_command() (process.c), then execve.
 * Failures go to run() as {step, errno} on fd 4 (wire.h). PID 1 dies with
 * the runner thread that cloned it (PR_SET_PDEATHSIG=SIGKILL, set before
 * exec); run() kills it on timeout or cancellation. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "executor/init/init.h"

void send_msg(int kind, int step, int err, int status, int index) {
  struct gantry_init_msg m;
  memset(&m, 0, sizeof m);
  m.kind = kind;
  m.step = step;
  m.err = err;
  m.status = status;
  m.index = index;
  if (kind == GANTRY_MSG_PHASE) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m.time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  }
  (void)send(GANTRY_INIT_STATUS_FD, &m, sizeof m, MSG_NOSIGNAL);
}

void trace_phase(const struct init_config* config, int step) {
  if (config && config->trace_phases) send_msg(GANTRY_MSG_PHASE, step, 0, 0, -1);
}

static _Noreturn void fail_step(int step, int err, int index) {
  send_msg(GANTRY_MSG_SETUP_FAILED, step, err, 0, index);
  _exit(125);
}

char* read_whole_file(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t size = 0, cap = 8192;
  char* data = malloc(cap + 1);
  for (;;) {
    if (!data) break;
    if (size == cap) {
      char* bigger = realloc(data, cap * 2 + 1);
      if (!bigger) {
        free(data);
        data = NULL;
        break;
      }
      data = bigger;
      cap *= 2;
    }
    ssize_t n = read(fd, data + size, cap - size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size += (size_t)n;
  }
  close(fd);
  if (data) data[size] = '\0';
  return data;
}

static char* read_config_fd(size_t* size) {
  struct stat st;
  if (fstat(GANTRY_INIT_CONFIG_FD, &st) != 0 || st.st_size <= 0) return NULL;
  char* data = malloc((size_t)st.st_size);
  if (!data) return NULL;
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = pread(GANTRY_INIT_CONFIG_FD, data + got, (size_t)st.st_size - got, (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(GANTRY_INIT_CONFIG_FD);
  *size = got;
  return data;
}

static void forwarded_signals(sigset_t* set) {
  static const int sigs[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  sigemptyset(set);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; ++i) sigaddset(set, sigs[i]);
}

/* Waits for `child`; forwards every other signal of the set to it; reaps any
 * other child (zombies re-parented to PID 1). Returns the child's wait status. */
static int supervise(pid_t child) {
  sigset_t set;
  forwarded_signals(&set);
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&set, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
      if (pid == child) return status;
  }
}

/* The setup's deep frames (PATH_MAX buffers, the mount steps) leave stack
 * pages behind that the init never needs again, and it lives as long as its
 * container: pages below this frame go back to the kernel (a later deeper
 * call simply faults in a zero page). No mapping lies within the kernel's
 * stack guard gap below the stack, so the range touches only the stack; the
 * unmapped part of it makes madvise return ENOMEM, which is expected. */
static void __attribute__((noinline)) release_setup_stack(void) {
  char here;
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), span = 256 * 1024;
  uintptr_t below = ((uintptr_t)&here & ~(page - 1)) - 2 * page;
  (void)madvise((void*)(below - span), span, MADV_DONTNEED);
}

static const struct step_entry kSteps[] = {
    {GANTRY_STEP_make_mounts_private, make_mounts_private},
    {GANTRY_STEP_mount_scratch, mount_scratch},
    {GANTRY_STEP_write_etc_files, write_etc_files},
    {GANTRY_STEP_mount_rootfs, mount_rootfs},
    {GANTRY_STEP_open_rootfs, open_rootfs},
    {GANTRY_STEP_mount_proc, mount_proc},
    {GANTRY_STEP_mount_dev, mount_dev},
    {GANTRY_STEP_mount_devpts, mount_devpts},
    {GANTRY_STEP_mount_shm, mount_shm},
    {GANTRY_STEP_mount_sys, mount_sys},
    {GANTRY_STEP_mask_paths, mask_paths},
    {GANTRY_STEP_readonly_paths, readonly_paths},
    {GANTRY_STEP_bind_mounts, bind_mounts},
    {GANTRY_STEP_etc_files, etc_files},
    {GANTRY_STEP_pivot_root, pivot_into_rootfs},
    {GANTRY_STEP_set_hostname, set_hostname},
    {GANTRY_STEP_loopback_up, loopback_up},
    {GANTRY_STEP_resolve_user, resolve_user_step},
    {GANTRY_STEP_make_workdir, make_workdir},
};

int main(void) {
  sigset_t set;
  forwarded_signals(&set);
  sigprocmask(SIG_SETMASK, &set, NULL);  /* run() cloned us with every signal blocked */
  /* Only stdio, the config and the status socket survive into the init. */
  if (syscall(SYS_close_range, GANTRY_INIT_STATUS_FD + 1, ~0U, 0) != 0)
    for (int fd = GANTRY_INIT_STATUS_FD + 1; fd < 1024; ++fd) close(fd);
  fcntl(GANTRY_INIT_STATUS_FD, F_SETFD, FD_CLOEXEC);

  struct init_config config;
  size_t size = 0;
  char* data = read_config_fd(&size);
  if (!data || parse_config(data, size, &config) != 0) fail_step(GANTRY_STEP_read_config, EINVAL, -1);
  free(data);
  trace_phase(&config, GANTRY_STEP_init_started);
  /* PR_SET_PDEATHSIG was set before exec; the runner may have died before:
   * then its end of the status socket is closed. */
  struct pollfd p = {GANTRY_INIT_STATUS_FD, 0, 0};
  if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR))) _exit(125);

  struct setup_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.config = &config;
  ctx.rootfd = ctx.scratchfd = ctx.failed_index = -1;
  for (size_t i = 0; i < sizeof kSteps / sizeof kSteps[0]; ++i) {
    int err = kSteps[i].fn(&ctx);
    if (err) fail_step(kSteps[i].step, err, ctx.failed_index);
    trace_phase(&config, kSteps[i].step);
  }

  pid_t child = fork();
  if (child < 0) fail_step(GANTRY_STEP_fork_command, errno, -1);
  if (child == 0) exec_command(&ctx);
  release_setup_stack();
  int status = supervise(child);
  trace_phase(&config, GANTRY_STEP_command_exited);
  /* A full upper tmpfs (Limits::tmpfs_bytes reached) explains many failures. */
  struct statfs fs;
  int full = ctx.scratchfd >= 0 && fstatfs(ctx.scratchfd, &fs) == 0 && fs.f_bavail == 0 ? ENOSPC : 0;
  send_msg(GANTRY_MSG_EXITED, GANTRY_STEP_exec_command, full, status, -1);
  _exit(0); /* the kernel kills whatever is left in the pid namespace */
}
