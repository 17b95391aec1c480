/* gantry-init, private: the config as PID 1 reads it, the setup context and
 * the steps (crun's container_init_setup, as a linear list). Each step
 * returns 0 or an errno; main.c reports the failing one and exits. */
#ifndef GANTRY_EXECUTOR_INIT_INIT_H
#define GANTRY_EXECUTOR_INIT_INIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "executor/init/wire.h"

struct init_mount {
  char* source;
  char* target;
  int read_only;
};

struct init_config {
  char* id;
  char** lowerdirs; /* bottom to top, NULL-terminated */
  size_t n_lowerdirs;
  char* upper_dir;
  char* work_dir;
  char* rootfs;
  char* etc_dir;
  char* scratch_dir;
  int scratch_tmpfs;
  char* scratch_mount;
  uint64_t scratch_tmpfs_bytes;
  uint64_t file_size_limit;
  char** argv; /* NULL-terminated */
  size_t n_argv;
  char** env;
  size_t n_env;
  char* workdir;
  char* user;
  char* hostname;
  struct init_mount* mounts;
  size_t n_mounts;
  int host_network;
  char* extra_hosts; /* lines appended to /etc/hosts */
  char* seccomp_bpf;
  size_t seccomp_len;
  uint64_t caps_keep;
  int trace_phases;
  int rootless; /* in gantry's user namespace, not the host's (docs/rootless.md) */
};

/* 0, or EINVAL when the data is not a config of this protocol version. */
int parse_config(const char* data, size_t size, struct init_config* out);

struct resolved_user {
  uid_t uid;
  gid_t gid;
  gid_t groups[64]; /* supplementary, the primary first */
  size_t n_groups;
  char home[256];
};

/* Resolves "", "uid[:gid]", "name[:group]" against the contents of the
 * image's /etc/passwd and /etc/group (NULL when absent), as Docker does.
 * 0, ENOENT (unknown name), EINVAL (malformed). */
int resolve_user(const char* spec, const char* passwd, const char* group, struct resolved_user* out);

struct setup_ctx {
  const struct init_config* config;
  int rootfd;     /* the overlay's root (O_PATH), until pivot */
  int scratchfd;  /* the size-limited scratch tmpfs (O_PATH), to tell at the end whether it filled up */
  int failed_index;
  /* Prepared for the command child (all allocation done before fork): */
  struct resolved_user user;
  char** envp;        /* final environment, NULL-terminated */
  char** candidates;  /* paths execve tries, in order, NULL-terminated */
};

typedef int (*step_fn)(struct setup_ctx*);
struct step_entry {
  enum gantry_init_step step;
  step_fn fn;
};

/* rootfs.c, in order, before pivot_root. */
int make_mounts_private(struct setup_ctx*);
int mount_scratch(struct setup_ctx*);
int write_etc_files(struct setup_ctx*);
int mount_rootfs(struct setup_ctx*);
int open_rootfs(struct setup_ctx*);
int mount_proc(struct setup_ctx*);
int mount_dev(struct setup_ctx*);
int mount_devpts(struct setup_ctx*);
int mount_shm(struct setup_ctx*);
int mount_sys(struct setup_ctx*);
int mask_paths(struct setup_ctx*);
int readonly_paths(struct setup_ctx*);
int bind_mounts(struct setup_ctx*);
int etc_files(struct setup_ctx*);
int pivot_into_rootfs(struct setup_ctx*);

/* process.c: after pivot_root, in PID 1. */
int set_hostname(struct setup_ctx*);
int loopback_up(struct setup_ctx*);
int resolve_user_step(struct setup_ctx*);
int make_workdir(struct setup_ctx*);
/* In the command child: async-signal-safe syscalls on prepared data. Never returns. */
_Noreturn void exec_command(const struct setup_ctx*);

/* main.c */
void send_msg(int kind, int step, int err, int status, int index);
void trace_phase(const struct init_config*, int step);
/* Reads a whole file (NUL-terminated, malloc'd) or returns NULL. */
char* read_whole_file(const char* path);

#endif
