// An append-only log file of a stage or a build step, written line by line
// (callers mask secrets before a line gets here). Private to runner/.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/unique_fd.h"

namespace gantry::runner {

class LogFile {
 public:
  static Result<LogFile> open(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return fail_sys("open", path);
    return LogFile(std::move(fd));
  }
  void line(std::string_view text) {
    std::string l(text);
    l.push_back('\n');
    std::size_t off = 0;
    while (off < l.size()) {
      ssize_t n = ::write(fd_.get(), l.data() + off, l.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }

 private:
  explicit LogFile(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace gantry::runner
