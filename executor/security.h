// The security profile of a container's command: Docker's default capability
// set, no_new_privs, and a default seccomp filter (libseccomp) refusing the
// syscalls that reach beyond the container (mount, namespaces, modules, kexec,
// bpf, keyrings, clock setting, …) with EPERM.
//
// The runner side builds both once per process; the init (gantry-init,
// executor/init/process.c) applies them in the command child before exec.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"

namespace gantry::executor {

// The seccomp program as raw BPF (seccomp_export_bpf), built once per process.
Result<std::string> default_seccomp_bpf();

// kDefaultCapabilities as a mask (bit N: capability N), for the init: the
// bounding set it keeps, and the effective and permitted sets of a root command.
std::uint64_t default_capability_mask();

// The container root's capabilities, by name: Docker's default set without
// cap_mknod (for documentation and tests).
extern const char* const kDefaultCapabilities[13];

}  // namespace gantry::executor
