/* The wire between run() (executor/run.cpp, C++) and the container init
 * (gantry-init, the C program in this folder). One header for both languages.
 *
 * run() clones PID 1 of the container straight into its new namespaces
 * (init_spawn.cpp) and that child execs gantry-init with:
 *   fd 0      /dev/null
 *   fd 1, 2   the pipes run() reads the command's output from
 *   fd 3      a memfd holding the serialized config (format below)
 *   fd 4      one end of a SOCK_SEQPACKET socketpair on which PID 1 and the
 *             command child send fixed-size struct gantry_init_msg records:
 *             setup_failed {step, errno, index} when a step fails (the first
 *             one counts), exited {wait status; err ENOSPC when the
 *             size-limited upper tmpfs was full at that moment} when the
 *             command ended, and phase {step, time} when tracing is on.
 *
 * Config format, version GANTRY_INIT_PROTOCOL (little-endian host order;
 * str = u32 length + bytes; strs = u32 count + str...; bump the version with
 * every change, gantry-init refuses another one):
 *   u32 version, str id, strs lowerdirs (bottom to top), str upper_dir,
 *   str work_dir, str rootfs, str etc_dir, str scratch_dir, u32 scratch_tmpfs,
 *   str scratch_mount, u64 scratch_tmpfs_bytes, u64 file_size_limit,
 *   strs argv, strs env, str workdir, str user, str hostname,
 *   u32 mount count + {str source, str target, u32 read_only} each,
 *   u32 host_network, str extra_hosts (lines appended to /etc/hosts), str seccomp_bpf (raw struct sock_filter array),
 *   u64 caps_keep (bit N: capability N stays for a root command),
 *   u32 trace_phases, u32 rootless (5) (gantry's user namespace: overlay with
 *   userxattr, /sys bound rather than mounted with the host's network, no
 *   setgroups when the namespace denies it)
 */
#ifndef GANTRY_EXECUTOR_INIT_WIRE_H
#define GANTRY_EXECUTOR_INIT_WIRE_H

#include <stdint.h>

#define GANTRY_INIT_PROTOCOL 5u
#define GANTRY_INIT_CONFIG_FD 3
#define GANTRY_INIT_STATUS_FD 4
/* The file name of the init, installed next to the gantry binary. */
#define GANTRY_INIT_NAME "gantry-init"

/* The setup steps, in the order they run (crun's container_init_setup): the
 * spawn child's (before exec), PID 1's, then the command child's. */
#define GANTRY_INIT_STEPS(X)                                                                           \
  X(spawn) X(read_config) X(parent_died) X(make_mounts_private) X(mount_scratch) X(write_etc_files)   \
  X(mount_rootfs) X(open_rootfs) X(mount_proc) X(mount_dev) X(mount_devpts) X(mount_shm) X(mount_sys) \
  X(mask_paths) X(readonly_paths) X(bind_mounts) X(etc_files) X(pivot_root) X(set_hostname)          \
  X(loopback_up) X(resolve_user) X(make_workdir) X(fork_command)                                     \
  /* in the command child, between fork and exec: */                                                  \
  X(set_session) X(set_rlimits) X(drop_bounding_caps) X(set_groups) X(set_gid) X(set_uid) X(set_caps) \
  X(no_new_privs) X(chdir_workdir) X(load_seccomp) X(exec_command)                                     \
  /* phases only (tracing): */                                                                         \
  X(init_started) X(command_exited)

#define GANTRY_INIT_STEP_ENUM(name) GANTRY_STEP_##name,
enum gantry_init_step { GANTRY_INIT_STEPS(GANTRY_INIT_STEP_ENUM) GANTRY_STEP_COUNT };
#undef GANTRY_INIT_STEP_ENUM

enum gantry_init_msg_kind {
  GANTRY_MSG_SETUP_FAILED = 1, /* step, err (index: which bind mount, when it applies) */
  GANTRY_MSG_EXITED = 2,       /* status: the command's wait status */
  GANTRY_MSG_PHASE = 4,        /* step reached at time_ns (CLOCK_REALTIME), when tracing */
};

struct gantry_init_msg {
  int32_t kind;
  int32_t step;
  int32_t err;
  int32_t status;
  int32_t index; /* a bind mount's index for bind_mounts, else -1 */
  int32_t reserved;
  int64_t time_ns;
};

#endif
