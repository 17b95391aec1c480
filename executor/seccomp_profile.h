// The default seccomp profile of a container's command, compiled by
// libseccomp into raw BPF. The build runs this once (executor/seccomp_gen/)
// and embeds the program in the binary (default_seccomp_bpf() in
// security.h); a test checks the embedded program is what this compiles now.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"

namespace gantry::executor {

// The profile's BPF (seccomp_export_bpf output), for the native architecture.
Result<std::string> compile_default_seccomp_bpf();

// libseccomp's token of the architecture this process runs on (SCMP_ARCH_*).
std::uint32_t seccomp_native_arch();

}  // namespace gantry::executor
