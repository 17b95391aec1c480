#include "tests/support/deep_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

#include "common/unique_fd.h"

namespace gantry::testing {

std::size_t make_deep_tree(const std::string& dir, int levels, const std::string& link_target) {
  const std::string name(200, 'd');
  UniqueFd cur(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cur) throw std::runtime_error("make_deep_tree: open " + dir);
  std::size_t length = dir.size();
  UniqueFd read_only;
  for (int i = 0; i < levels; ++i) {
    if (::mkdirat(cur.get(), name.c_str(), 0755) != 0) throw std::runtime_error("make_deep_tree: mkdirat");
    UniqueFd next(::openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) throw std::runtime_error("make_deep_tree: openat");
    // A sibling file at every level, so the walk has to come back up through each.
    UniqueFd f(::openat(cur.get(), "sibling", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (i == levels / 2) read_only = UniqueFd(::fcntl(next.get(), F_DUPFD_CLOEXEC, 0));
    cur = std::move(next);
    length += 1 + name.size();
  }
  UniqueFd f(::openat(cur.get(), "bottom", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!f || ::write(f.get(), "x", 1) != 1) throw std::runtime_error("make_deep_tree: bottom file");
  if (::symlinkat(link_target.c_str(), cur.get(), "escape") != 0) throw std::runtime_error("make_deep_tree: symlink");
  if (read_only && ::fchmod(read_only.get(), 0555) != 0) throw std::runtime_error("make_deep_tree: fchmod");
  return length + 7;
}

}  // namespace gantry::testing
