// Store directory modes. Unpacked layers keep what their images hold
// (setuid-root binaries, device nodes, 0777 dirs): the container needs them.
// So no host user but the store's owner may get into the store at all: the
// root and its top-level dirs (blobs/, layers/, runs/, tmp/, git/) are 0700,
// created that way (mkdir with the mode, then fchmod past the umask), and an
// existing store with looser modes is tightened when its owner opens it.
// Containers run as root and overlayfs reaches a lowerdir with the mounter's
// credentials, so nothing inside a container notices. fsck reports a store
// whose modes are (or were, until this open) wrong as "store mode" faults.
#pragma once

#include <string>
#include <vector>

#include "cache/store_paths.h"
#include "common/error.h"

namespace gantry::cache {

inline constexpr unsigned kStoreDirMode = 0700;

// The directories whose mode guards the store, root first.
std::vector<std::string> private_store_dirs(const StorePaths& paths);

// mkdir(path, 0700) (EEXIST is fine), then its mode made exactly 0700 when we
// own it. Never follows a symlink unless follow (the store root may be one).
Status make_private_dir(const std::string& path, bool follow);

// Checks every private_store_dirs() entry that exists: a dir whose group or
// other bits are set is tightened to 0700 when fix and we own it. Returns one
// line per dir that was (or still is) reachable by other users.
Result<std::vector<std::string>> check_store_modes(const StorePaths& paths, bool fix);

}  // namespace gantry::cache
