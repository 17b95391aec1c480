/* PID 1's steps after pivot_root (hostname, loopback, user, environment,
 * workdir) and the command child: between fork and exec only
 * async-signal-safe syscalls on data PID 1 prepared (session, rlimits,
 * bounding set, ids, capabilities, no_new_privs, seccomp), then execve. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "executor/init/init.h"

static const char kDefaultPath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

int set_hostname(struct setup_ctx* ctx) {
  const char* h = ctx->config->hostname;
  return sethostname(h, strlen(h)) == 0 ? 0 : errno;
}

int loopback_up(struct setup_ctx* ctx) {
  if (ctx->config->host_network) return 0;
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return errno;
  struct ifreq req;
  memset(&req, 0, sizeof req);
  strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  int err = 0;
  if (ioctl(sock, SIOCGIFFLAGS, &req) != 0) {
    err = errno;
  } else {
    req.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(sock, SIOCSIFFLAGS, &req) != 0) err = errno;
  }
  close(sock);
  return err;
}

static const char* env_value(char** env, const char* key) {
  size_t n = strlen(key);
  for (; env && *env; ++env)
    if (strncmp(*env, key, n) == 0 && (*env)[n] == '=') return *env + n + 1;
  return NULL;
}

static char* concat(const char* a, const char* b) {
  size_t la = strlen(a), lb = strlen(b);
  char* s = malloc(la + lb + 1);
  if (!s) return NULL;
  memcpy(s, a, la);
  memcpy(s + la, b, lb + 1);
  return s;
}

int resolve_user_step(struct setup_ctx* ctx) {
  const struct init_config* c = ctx->config;
  char* passwd = read_whole_file("/etc/passwd");
  char* group = read_whole_file("/etc/group");
  int err = resolve_user(c->user, passwd, group, &ctx->user);
  free(passwd);
  free(group);
  if (err) return err;
  /* The environment: the config's, then PATH, HOSTNAME, HOME unless set. */
  char** envp = calloc(c->n_env + 4, sizeof *envp);
  if (!envp) return ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < c->n_env; ++i) envp[n++] = c->env[i];
  if (!env_value(c->env, "PATH")) envp[n++] = (char*)kDefaultPath;
  if (!env_value(c->env, "HOSTNAME") && !(envp[n++] = concat("HOSTNAME=", c->hostname))) return ENOMEM;
  if (!env_value(c->env, "HOME") && !(envp[n++] = concat("HOME=", ctx->user.home))) return ENOMEM;
  ctx->envp = envp;
  /* The candidates execve tries, as execvp would search PATH. */
  const char* cmd = c->argv[0];
  if (strchr(cmd, '/')) {
    ctx->candidates = calloc(2, sizeof *ctx->candidates);
    if (!ctx->candidates) return ENOMEM;
    ctx->candidates[0] = (char*)cmd;
    return 0;
  }
  const char* path = env_value(envp, "PATH");
  size_t parts = 1;
  for (const char* p = path; *p; ++p) parts += *p == ':';
  ctx->candidates = calloc(parts + 1, sizeof *ctx->candidates);
  if (!ctx->candidates) return ENOMEM;
  size_t cmdlen = strlen(cmd);
  for (size_t i = 0; i < parts; ++i) {
    const char* end = strchr(path, ':');
    size_t len = end ? (size_t)(end - path) : strlen(path);
    const char* dir = len ? path : ".";
    size_t dlen = len ? len : 1;
    char* cand = malloc(dlen + 1 + cmdlen + 1);
    if (!cand) return ENOMEM;
    memcpy(cand, dir, dlen);
    cand[dlen] = '/';
    memcpy(cand + dlen + 1, cmd, cmdlen + 1);
    ctx->candidates[i] = cand;
    path = end ? end + 1 : path + len;
  }
  return 0;
}

int make_workdir(struct setup_ctx* ctx) {
  const char* dir = ctx->config->workdir;
  char prefix[4096];
  size_t len = strlen(dir);
  if (len >= sizeof prefix) return ENAMETOOLONG;
  for (size_t pos = 1; pos <= len; ++pos) {
    if (pos != len && dir[pos] != '/') continue;
    memcpy(prefix, dir, pos);
    prefix[pos] = '\0';
    if (mkdir(prefix, 0755) != 0 && errno != EEXIST) return errno;
  }
  return 0;
}

/* ---- the command child: async-signal-safe only ---- */

static _Noreturn void child_fail(enum gantry_init_step step, int err, int code) {
  send_msg(GANTRY_MSG_SETUP_FAILED, step, err, 0, -1);
  _exit(code);
}

enum { kCannotStart = 125, kNotExecutable = 126, kNotFound = 127 };

_Noreturn void exec_command(const struct setup_ctx* ctx) {
  const struct init_config* c = ctx->config;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (setsid() < 0) child_fail(GANTRY_STEP_set_session, errno, kCannotStart);
  if (c->file_size_limit) {
    /* Hard too: raising it back needs CAP_SYS_RESOURCE, which the command lacks. */
    struct rlimit fsize = {c->file_size_limit, c->file_size_limit};
    if (setrlimit(RLIMIT_FSIZE, &fsize) != 0) child_fail(GANTRY_STEP_set_rlimits, errno, kCannotStart);
  }
  /* The bounding set (needs CAP_SETPCAP, so before the ids change); EINVAL:
   * past the last capability this kernel knows. */
  for (int cap = 0; cap < 64; ++cap) {
    if (c->caps_keep & (1ull << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      child_fail(GANTRY_STEP_drop_bounding_caps, errno, kCannotStart);
  }
  /* No ambient capabilities survive into the command. */
  (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  const struct resolved_user* u = &ctx->user;
  /* A user namespace mapping only the user's id denies setgroups(2): the
   * command keeps the one group it has (0 there), unless it asked for more. */
  if (syscall(SYS_setgroups, u->n_groups, u->groups) != 0 &&
      !(errno == EPERM && c->rootless && u->n_groups <= 1 && u->gid == 0))
    child_fail(GANTRY_STEP_set_groups, errno, kCannotStart);
  if (syscall(SYS_setresgid, u->gid, u->gid, u->gid) != 0) child_fail(GANTRY_STEP_set_gid, errno, kCannotStart);
  /* Leaving uid 0 clears the permitted and effective sets (no keep-caps). */
  if (syscall(SYS_setresuid, u->uid, u->uid, u->uid) != 0) child_fail(GANTRY_STEP_set_uid, errno, kCannotStart);
  if (u->uid == 0) {
    /* Root keeps Docker's set as effective and permitted, nothing inheritable. */
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].effective = data[0].permitted = (uint32_t)c->caps_keep;
    data[1].effective = data[1].permitted = (uint32_t)(c->caps_keep >> 32);
    if (syscall(SYS_capset, &header, data) != 0) child_fail(GANTRY_STEP_set_caps, errno, kCannotStart);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(GANTRY_STEP_no_new_privs, errno, kCannotStart);
  if (chdir(c->workdir) != 0) child_fail(GANTRY_STEP_chdir_workdir, errno, kCannotStart);
  struct sock_fprog prog = {(unsigned short)(c->seccomp_len / sizeof(struct sock_filter)),
                            (struct sock_filter*)c->seccomp_bpf};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
    child_fail(GANTRY_STEP_load_seccomp, errno, kCannotStart);
  trace_phase(c, GANTRY_STEP_exec_command);
  int err = ENOENT, denied = 0;
  for (char** cand = ctx->candidates; *cand; ++cand) {
    execve(*cand, c->argv, ctx->envp);
    if (errno == EACCES) {
      denied = 1;
    } else if (errno != ENOENT && errno != ENOTDIR && errno != ENODEV && errno != ESTALE) {
      err = errno;
      break;
    }
  }
  if (err == ENOENT && denied) err = EACCES;
  child_fail(GANTRY_STEP_exec_command, err, err == ENOENT ? kNotFound : kNotExecutable);
}
