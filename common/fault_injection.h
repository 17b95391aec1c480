// The filesystem-fault seam (docs/architecture.md, "Seams"), in the style of
// LevelDB's FaultInjectionTestEnv: every durable write of the store first
// passes a fault point — a blob's bytes (once per blob), the fsync of a file,
// the rename that publishes it, the fsync of its directory, a meta.db commit
// (an explicit COMMIT or a write statement in autocommit). Unarmed, a point
// only counts. Armed at N, the N-th point from then on fails:
//   - Mode::error: the operation returns an io error (EIO, "injected fault")
//     as if the disk had failed; the caller unwinds as it would then;
//   - Mode::crash: the process kills itself with SIGKILL right there (no
//     destructor, no cleanup: a crash at exactly that point; the kernel keeps
//     what was written, so this is a process crash, not a power cut).
// Tests arm it in-process (arm()); the gantry binary arms it from the
// environment: GANTRY_FAULT_AT=N, GANTRY_FAULT_MODE=error|crash (default
// error). When a point fires it prints "gantry: injected fault at point N: OP
// PATH" on stderr, also when the caller ignores the error (best-effort writes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace gantry::fault {

enum class Op { write, fsync, rename, dir_fsync, db_commit };
enum class Mode { error, crash };

std::string_view op_name(Op op);

// A durable write is about to happen: {} to go on, or the injected error
// (errno EIO) the caller returns as its own.
Status point(Op op, std::string_view path);

// Tests: the n-th point() from now (1-based) fires; the count restarts.
void arm(std::uint64_t n, Mode mode = Mode::error);
// No point fires any more; the count restarts.
void disarm();
// Points passed since the last arm()/disarm() (or the start).
std::uint64_t points_seen();
// What the armed point hit ("fsync /store/blobs/sha256/..."), once it fired.
std::optional<std::string> fired();

// Disarms on construction and again on destruction (RAII for tests).
class ScopedFaults {
 public:
  ScopedFaults() { disarm(); }
  ~ScopedFaults() { disarm(); }
  ScopedFaults(const ScopedFaults&) = delete;
  ScopedFaults& operator=(const ScopedFaults&) = delete;
};

}  // namespace gantry::fault
