// The wire between run() (the runner side) and `gantry __init`:
//  - fd 3 of the init: a memfd holding the serialized InitConfig;
//  - fd 4 of the init: one end of a SOCK_SEQPACKET socketpair on which the
//    spawned init, PID 1 and the command child send fixed-size InitMessage
//    records: pid1_started {host pid of PID 1} once PID 1 is forked,
//    setup_failed {step, errno, index} when a step fails (the first one
//    counts), exited {wait status; err ENOSPC when the size-limited upper
//    tmpfs was full at that moment} when the command ended.
// Both sides are the same binary, so the format only has to agree with itself;
// kProtocolVersion, checked by InitConfig::parse, still refuses a stale
// init_binary (bump it whenever InitConfig's serialized fields change).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace gantry::executor {

inline constexpr std::uint32_t kProtocolVersion = 2;
inline constexpr int kConfigFd = 3;
inline constexpr int kStatusFd = 4;

// The setup steps, in the order they run (crun's container_init_setup): the
// spawned init's, PID 1's (init_main.cpp's list), then the command child's.
// The seccomp program is built by the runner side (default_seccomp_bpf()).
enum class Step : std::int32_t {
  read_config,
  parent_died,
  unshare_namespaces,
  fork_pid1,
  make_mounts_private,
  mount_scratch,
  write_etc_files,
  mount_rootfs,
  open_rootfs,
  mount_proc,
  mount_dev,
  mount_devpts,
  mount_shm,
  mount_sys,
  mask_paths,
  readonly_paths,
  bind_mounts,
  etc_files,
  pivot_root,
  set_hostname,
  loopback_up,
  resolve_user,
  make_workdir,
  prepare_caps,
  fork_command,
  // in the command child, between fork and exec:
  set_session,
  set_rlimits,
  drop_bounding_caps,
  set_groups,
  set_gid,
  set_uid,
  set_caps,
  no_new_privs,
  chdir_workdir,
  load_seccomp,
  exec_command,
};
const char* step_name(Step step);

enum class MessageKind : std::int32_t {
  setup_failed = 1,  // step, err (index: which mount, when it applies)
  exited = 2,        // status: the command's wait status
  pid1_started = 3,  // status: the host pid of PID 1 (to wait for the whole container to be gone)
};

struct InitMessage {
  MessageKind kind;
  Step step;
  std::int32_t err;
  std::int32_t status;
  std::int32_t index;  // a bind mount's index for bind_mounts, else -1
};

struct InitMount {
  std::string source;
  std::string target;
  bool read_only = true;
};

// Everything the init needs; the runner side prepared paths and files.
struct InitConfig {
  std::string id;
  std::int32_t parent_pid = 0;         // the runner, to detect that it died before PR_SET_PDEATHSIG
  std::vector<std::string> lowerdirs;  // bottom → top
  std::string upper_dir;
  std::string work_dir;                // overlay's workdir
  std::string rootfs;                  // the mount point
  std::string etc_dir;                 // hosts, hostname, resolv.conf to bind into the container
  std::string scratch_dir;             // the container dir: holds the four above
  bool scratch_tmpfs = false;          // PID 1 mounts a tmpfs on scratch_mount first (no disk inodes)
  std::string scratch_mount;           // scratch_dir itself, or work_root when nothing is on disk
  std::uint64_t scratch_tmpfs_bytes = 0;  // size= of that tmpfs (holds the upper); 0: the kernel's default (half the RAM)
  std::uint64_t file_size_limit = 0;      // RLIMIT_FSIZE of the command; 0: none
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string workdir;
  std::string user;
  std::string hostname;
  std::vector<InitMount> mounts;
  bool host_network = false;
  std::string seccomp_bpf;             // raw BPF program, built once by the runner side

  std::string serialize() const;
  static Result<InitConfig> parse(const std::string& data);
};

}  // namespace gantry::executor
