#include "common/read_fd.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace gantry {

Result<std::string> read_fd(int fd, const std::string& path, std::uint64_t limit) {
  std::string out;
  std::array<char, 1 << 16> buf;
  while (out.size() < limit) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), limit - out.size()));
    ssize_t n = ::read(fd, buf.data(), want);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_sys("read", path);
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace gantry
