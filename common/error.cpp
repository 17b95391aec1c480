#include "common/error.h"

#include <cstring>

namespace gantry {

Error sys_error(const std::string& op, const std::string& path, int err) {
  std::string message = op;
  if (!path.empty()) message += " " + path;
  message += ": ";
  message += std::strerror(err);
  return Error(err == ENOENT ? ErrorKind::not_found : ErrorKind::io, std::move(message), err);
}

}  // namespace gantry
