// The security profile of a container's command: Docker's default capability
// set, no_new_privs, and a default seccomp filter (libseccomp) refusing the
// syscalls that reach beyond the container (mount, namespaces, modules, kexec,
// bpf, keyrings, clock setting, …) with EPERM.
//
// prepare_*() allocate and may fail; they run before fork. apply_*() are
// async-signal-safe (syscalls on prepared data) and run in the command child
// between fork and exec.
#pragma once

#include <linux/filter.h>
#include <sys/capability.h>

#include <string>
#include <vector>

#include "common/error.h"

namespace gantry::executor {

// The seccomp program as raw BPF (seccomp_export_bpf), built once per process.
Result<std::string> default_seccomp_bpf();

struct CapsPlan {
  bool keep[64] = {};     // the bounding set to keep, by capability number
  int last_cap = 0;       // highest capability the kernel knows
  cap_t root_caps = nullptr;  // effective + permitted for uid 0 (Docker's set)
  CapsPlan() = default;
  CapsPlan(const CapsPlan&) = delete;
  CapsPlan& operator=(const CapsPlan&) = delete;
  ~CapsPlan();
};
// 0 or errno.
int prepare_caps(CapsPlan& plan);

// In the child, in this order: drop the bounding set (needs CAP_SETPCAP, so
// before anything else), set ids, then caps for root, no_new_privs, seccomp.
int apply_bounding_set(const CapsPlan& plan);
int apply_root_caps(const CapsPlan& plan);
int apply_seccomp(const std::string& bpf);

// The container root's capabilities, by name: Docker's default set without
// cap_mknod (for documentation and tests).
extern const char* const kDefaultCapabilities[13];

}  // namespace gantry::executor
