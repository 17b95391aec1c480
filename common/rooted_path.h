// Paths inside a directory tree someone else filled (a container's upper dir,
// an image layer, an artifacts dir, an export dir), looked up fd-relative
// from that tree's root and never outside it: no "..", no symlink followed,
// no magic link, no mount crossed. A symlink on the way is refused with an
// error naming it, never resolved on the host.
//
//   UniqueFd root(::open(upper.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
//   auto dir = open_dir_beneath(root.get(), "out/logs", Create::no);
//   // dir: an O_PATH fd of <upper>/out/logs, or ELOOP if out is a symlink
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace gantry {

// The components of a relative path ("a/b//c/" -> a, b, c; leading '/'
// ignored). invalid_input for a ".." or "." component; empty for "" or "/".
Result<std::vector<std::string>> split_beneath_path(std::string_view path);

// openat2(rootfd, rel, flags | O_CLOEXEC) (a leading '/' of rel means the
// root) with RESOLVE_BENEATH,
// RESOLVE_NO_SYMLINKS, RESOLVE_NO_MAGICLINKS and RESOLVE_NO_XDEV: the last
// component is not followed either (a symlink there is ELOOP unless flags has
// O_PATH | O_NOFOLLOW, which opens the link itself). The error keeps the
// errno (ENOENT, ENOTDIR, ELOOP, EXDEV...) and names `rel`. On a kernel
// without openat2 (before 5.6) it walks the components with O_NOFOLLOW.
Result<UniqueFd> open_beneath(int rootfd, std::string_view rel, int flags, mode_t mode = 0);

enum class Create { no, yes };

// The directory `rel` below rootfd as an O_PATH | O_DIRECTORY fd, creating
// missing components (with `mode`) when asked. A component that is a symlink
// is invalid_input "…goes through the symlink 'a/b'" (errno ELOOP); one that
// is not a directory is invalid_input (errno ENOTDIR); a missing one without
// Create::yes is not_found (ENOENT). `rel` may be "" (rootfd itself).
Result<UniqueFd> open_dir_beneath(int rootfd, std::string_view rel, Create create, mode_t mode = 0755);

}  // namespace gantry
