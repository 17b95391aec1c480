// Reading an open fd to its end, or to a byte limit (never past it: a
// secret source that is /dev/zero or a pipe is read no further).
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "common/error.h"

namespace gantry {

// Reads until EOF or until `limit` bytes were read, whichever comes first.
// Errors name `path` (what the fd is, for messages).
Result<std::string> read_fd(int fd, const std::string& path,
                            std::uint64_t limit = std::numeric_limits<std::uint64_t>::max());

}  // namespace gantry
