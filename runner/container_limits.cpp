#include "runner/container_limits.h"

namespace gantry::runner {

executor::Limits container_limits(const DefaultLimits& defaults, const pipeline::Limits& own) {
  executor::Limits l;
  l.memory_bytes = own.memory ? own.memory : defaults.memory_bytes;
  l.pids = own.pids ? own.pids : defaults.pids;
  l.cpus = own.cpus;
  l.tmpfs_bytes = own.tmpfs ? own.tmpfs : defaults.tmpfs_bytes;
  l.file_bytes = own.disk ? own.disk : defaults.disk_bytes;
  return l;
}

}  // namespace gantry::runner
