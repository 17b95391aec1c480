// Private to executor/: the setup steps PID 1 of a container runs, as a
// linear list (crun's container_init_setup). Each step returns 0 or an errno;
// the list runner reports the failing step to the runner side and exits.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "executor/init_protocol.h"
#include "executor/security.h"
#include "executor/user_lookup.h"

namespace gantry::executor {

struct SetupContext {
  const InitConfig& config;
  UniqueFd rootfd;      // the overlay's root (O_PATH)
  UniqueFd procfd;      // the container's fresh /proc (O_PATH), until pivot
  UniqueFd scratchfd;   // the size-limited scratch tmpfs (O_PATH), to tell at the end whether it filled up
  int failed_index = -1;  // which bind mount failed
  // Prepared for the command child (allocations done before fork):
  ResolvedUser user;
  std::vector<std::string> env;         // final environment, "K=V"
  std::vector<std::string> candidates;  // paths execve tries, in order
  CapsPlan caps;
};

using StepFn = int (*)(SetupContext&);
struct StepEntry {
  Step step;
  StepFn fn;
};

// The rootfs steps (rootfs_setup.cpp), in order, before pivot_root.
int make_mounts_private(SetupContext&);
int mount_scratch(SetupContext&);
int write_etc_files(SetupContext&);
int mount_rootfs(SetupContext&);
int open_rootfs(SetupContext&);
int mount_proc(SetupContext&);
int mount_dev(SetupContext&);
int mount_devpts(SetupContext&);
int mount_shm(SetupContext&);
int mount_sys(SetupContext&);
int mask_paths(SetupContext&);
int readonly_paths(SetupContext&);
int bind_mounts(SetupContext&);
int etc_files(SetupContext&);
int pivot_into_rootfs(SetupContext&);

// The overlay mount data for the layers ("lowerdir=top:…:bottom,upperdir=…,workdir=…").
// When too long for one page, relative lowerdirs from their common parent
// (chdir_to is then set and the mount must be done from there).
std::string overlay_options(const InitConfig& config, std::string& chdir_to);

}  // namespace gantry::executor
