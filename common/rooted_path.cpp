#include "common/rooted_path.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace gantry {

namespace {

std::string join(const std::vector<std::string>& comps, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += (i ? "/" : "") + comps[i];
  return out;
}

std::string shown(std::string_view rel) { return rel.empty() ? std::string(".") : std::string(rel); }

}  // namespace

Result<std::vector<std::string>> split_beneath_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    auto slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view comp = path.substr(pos, slash - pos);
    if (comp == ".." || comp == ".")
      return fail(ErrorKind::invalid_input, "'" + std::string(path) + "': a '" + std::string(comp) +
                                                "' component is not allowed here");
    if (!comp.empty()) out.emplace_back(comp);
    pos = slash + 1;
  }
  return out;
}

Result<UniqueFd> open_dir_beneath(int rootfd, std::string_view rel, Create create, mode_t mode) {
  auto comps = TRY(split_beneath_path(rel));
  UniqueFd cur(::openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cur) return fail_sys("open", ".");
  for (std::size_t i = 0; i < comps.size(); ++i) {
    const char* c = comps[i].c_str();
    int fd = ::openat(cur.get(), c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create == Create::yes) {
      if (::mkdirat(cur.get(), c, mode) != 0 && errno != EEXIST) return fail_sys("mkdir", join(comps, i + 1));
      fd = ::openat(cur.get(), c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      int err = errno;
      struct stat st {};
      bool exists = ::fstatat(cur.get(), c, &st, AT_SYMLINK_NOFOLLOW) == 0;
      if ((err == ENOTDIR || err == ELOOP) && exists && S_ISLNK(st.st_mode))
        return fail(ErrorKind::invalid_input,
                    "'" + shown(rel) + "' goes through the symlink '" + join(comps, i + 1) + "' (not followed)", ELOOP);
      if (err == ENOTDIR)
        return fail(ErrorKind::invalid_input, "'" + join(comps, i + 1) + "' is not a directory", ENOTDIR);
      return fail_sys("open", join(comps, i + 1), err);
    }
    cur = UniqueFd(fd);
  }
  return cur;
}

Result<UniqueFd> open_beneath(int rootfd, std::string_view rel, int flags, mode_t mode) {
  std::string path = rel.empty() ? std::string(".") : std::string(rel);
  while (path.size() > 1 && path.front() == '/') path.erase(0, 1);
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  int fd = static_cast<int>(::syscall(SYS_openat2, rootfd, path.c_str(), &how, sizeof how));
  if (fd >= 0) return UniqueFd(fd);
  if (errno != ENOSYS) return fail_sys("open", shown(rel));
  // Before Linux 5.6: the same refusal by walking the directories.
  auto comps = TRY(split_beneath_path(rel));
  if (comps.empty()) {
    fd = ::openat(rootfd, ".", flags | O_CLOEXEC);
    if (fd < 0) return fail_sys("open", ".");
    return UniqueFd(fd);
  }
  std::string leaf = comps.back();
  comps.pop_back();
  auto parent = TRY(open_dir_beneath(rootfd, join(comps, comps.size()), Create::no));
  fd = ::openat(parent.get(), leaf.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return fail_sys("open", shown(rel));
  return UniqueFd(fd);
}

}  // namespace gantry
