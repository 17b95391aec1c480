// The C++ side of the wire between run() and the container init
// (gantry-init, executor/init/): the step names, the message records and the
// config run() serializes for it. The format itself is defined once, in
// executor/init/wire.h (shared with the C init), with its version number.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "executor/init/wire.h"

namespace gantry::executor {

inline constexpr std::uint32_t kProtocolVersion = GANTRY_INIT_PROTOCOL;
inline constexpr int kConfigFd = GANTRY_INIT_CONFIG_FD;
inline constexpr int kStatusFd = GANTRY_INIT_STATUS_FD;

// The setup steps, in the order they run (wire.h's list).
#define GANTRY_STEP_CXX(name) name = GANTRY_STEP_##name,
enum class Step : std::int32_t { GANTRY_INIT_STEPS(GANTRY_STEP_CXX) };
#undef GANTRY_STEP_CXX
const char* step_name(Step step);

enum class MessageKind : std::int32_t {
  setup_failed = GANTRY_MSG_SETUP_FAILED,  // step, err (index: which mount, when it applies)
  exited = GANTRY_MSG_EXITED,              // status: the command's wait status
  phase = GANTRY_MSG_PHASE,                // step reached at time_ns (tracing)
};

struct InitMessage {
  MessageKind kind;
  Step step;
  std::int32_t err;
  std::int32_t status;
  std::int32_t index;  // a bind mount's index for bind_mounts, else -1
  std::int32_t reserved;
  std::int64_t time_ns;
};
static_assert(sizeof(InitMessage) == sizeof(gantry_init_msg));

struct InitMount {
  std::string source;
  std::string target;
  bool read_only = true;
};

// Everything the init needs; the runner side prepared paths and files.
struct InitConfig {
  std::string id;
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
  std::string extra_hosts;             // lines appended to /etc/hosts ("ADDRESS\tNAME\n" each)
  std::string seccomp_bpf;             // raw BPF program, built once by the runner side
  std::uint64_t caps_keep = 0;         // bit N: capability N stays (bounding set; effective for root)
  bool trace_phases = false;           // the init reports phase messages
  bool rootless = false;               // in gantry's user namespace (common/userns.h): overlay userxattr, ...

  // The bytes of wire.h's format.
  std::string serialize() const;
};

}  // namespace gantry::executor
