// gantry without root (docs/rootless.md). An unprivileged user's gantry runs
// itself again as root of a new user namespace, once per command, before it
// touches the store (reexec_in_user_namespace): the user's own uid is 0
// there, and the user's subordinate ids (/etc/subuid, /etc/subgid, mapped
// with the setuid newuidmap/newgidmap of Debian's `uidmap`) are 1..N; without
// subordinate ids only the user's own id is mapped (to 0). Everything gantry
// does then (unpack layers with their owners, read an upper's owners into a
// layer, remove trees, mount overlays in the containers' mount namespaces)
// sees the ids the images carry, so digests equal root's. The containers
// live in that user namespace: their root is the user on the host, with no
// capability in the host's user namespace.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/error.h"

namespace gantry::userns {

enum class Mapping {
  none,         // real root: no user namespace of gantry's own
  subordinate,  // 0 → the user, 1..count → the subordinate range (newuidmap/newgidmap)
  single,       // 0 → the user only; setgroups denied
};

// The mapping this process runs under: none unless it is the re-executed
// gantry (uid 0 of the namespace its parent made, GANTRY_ROOTLESS set).
Mapping current();
inline bool rootless() { return current() != Mapping::none; }
const char* mapping_name(Mapping m);  // "none", "subordinate", "single"

// An id range of /etc/subuid or /etc/subgid.
struct SubordinateRange {
  std::uint32_t start = 0;
  std::uint32_t count = 0;
};
// The first range of `file` ("name:start:count" or "uid:start:count" lines)
// for the user (by name or number); nullopt when none (or no file).
std::optional<SubordinateRange> subordinate_range(const std::string& file, uid_t id, const std::string& name);

// What reexec_in_user_namespace will map for this user, and why.
struct Plan {
  Mapping mapping = Mapping::single;
  std::string uid_map;  // "inside outside count" lines, as /proc/PID/uid_map takes them
  std::string gid_map;
  std::string note;     // why single, when a subordinate mapping was wanted but cannot be made ("" otherwise)
};
// GANTRY_ROOTLESS_MAPPING=single forces the single-id mapping (tests, and
// users whose subordinate ranges are broken).
Result<Plan> plan_mapping(uid_t uid, gid_t gid);

// For an unprivileged caller: runs /proc/self/exe with argv again as uid 0
// of a new user namespace mapped as plan_mapping() says, waits for it
// (forwarding SIGTERM and SIGHUP, and SIGINT/SIGQUIT unless the terminal
// sent them to both) and returns its exit code (128+N for signal N). An
// Error when the namespace cannot be made (the cause named: user namespaces
// disabled, newuidmap failing...).
Result<int> reexec_in_user_namespace(char** argv);

// Is this id mapped in this process's user namespace?
bool uid_mapped(uid_t id);
bool gid_mapped(gid_t id);

}  // namespace gantry::userns
