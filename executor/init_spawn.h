// Private to executor/: starting a container's PID 1. The calling thread is
// cloned (CLONE_VM | CLONE_VFORK: no page tables copied, like vfork) straight
// into the new mount, pid, uts, ipc and (unless host network or a shared one
// is joined) net namespaces;
// the child joins the container's cgroups, unshares its cgroup namespace
// (rooted there), places its fds, sets PR_SET_PDEATHSIG and execs the static
// gantry-init. One process per container besides the command: no
// intermediate init in the host's pid namespace, no second exec of gantry.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace gantry::executor {

struct InitFds {
  int out = -1;     // becomes fd 1
  int err = -1;     // becomes fd 2
  int config = -1;  // becomes kConfigFd
  int status = -1;  // becomes kStatusFd
};

struct SpawnedInit {
  pid_t pid = -1;    // the host pid of the container's PID 1 (the caller reaps it)
  UniqueFd pidfd;    // to signal and poll it without a pid reuse race
};

// init_binary: the gantry-init path. netns_fd: a network namespace to join
// (ContainerSpec::netns_fd) instead of a new one, -1 for none. cgroup_procs:
// cgroup.procs files the child writes itself into. The fds must all be > kStatusFd.
Result<SpawnedInit> spawn_init(const std::string& init_binary, bool host_network, int netns_fd,
                               const std::vector<UniqueFd>& cgroup_procs, const InitFds& fds);

// gantry-init next to the running program (/proc/self/exe's directory).
const std::string& default_init_binary();

}  // namespace gantry::executor
