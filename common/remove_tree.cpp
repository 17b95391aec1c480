// remove_tree: rm -rf without path strings. Every step is relative to the fd
// of the directory being emptied (openat/unlinkat/fdopendir with O_NOFOLLOW),
// and only that one directory is open: the stack holds names, not fds, and
// the walk climbs back through ".." (checked against the device and inode it
// came down from). So a tree deeper than PATH_MAX, which nftw() gives up on
// with ENAMETOOLONG, is removed like any other, and a symlink in it is
// unlinked, never followed.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/unique_fd.h"

namespace gantry {

namespace {

struct Level {
  std::string name;                  // this directory's name in its parent
  dev_t dev;                         // to check that ".." leads back up to the parent
  ino_t ino;
  std::vector<std::string> subdirs;  // still to descend into
};

std::string shown_path(const std::string& root, const std::vector<Level>& stack, const std::string& name) {
  std::string out = root;
  for (std::size_t i = 1; i < stack.size(); ++i) out += "/" + stack[i].name;
  if (!name.empty()) out += "/" + name;
  return out;
}

// A directory we cannot write or search cannot be emptied (when not root):
// give its owner rwx first. Never follows a symlink.
void make_writable(int parent, const std::string& name) {
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
      (st.st_mode & 0700) != 0700)
    (void)::fchmodat(parent, name.c_str(), (st.st_mode & 07777) | 0700, 0);
}

// Unlinks everything in `dir` that is not a directory; returns the names of
// the subdirectories.
Result<std::vector<std::string>> clear_files(int dir, const std::string& shown) {
  int dup = ::fcntl(dir, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return fail_sys("dup", shown);
  std::unique_ptr<DIR, int (*)(DIR*)> d(::fdopendir(dup), ::closedir);
  if (!d) {
    int err = errno;
    ::close(dup);
    return fail_sys("opendir", shown, err);
  }
  ::rewinddir(d.get());
  std::vector<std::string> subdirs;
  while (dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return fail_sys("stat", shown + "/" + name);
      }
      is_dir = S_ISDIR(st.st_mode);
    }
    if (is_dir) {
      subdirs.push_back(std::move(name));
    } else if (::unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) {
      return fail_sys("unlink", shown + "/" + name);
    }
  }
  return subdirs;
}

}  // namespace

Status remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return fail_sys("stat", path);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail_sys("unlink", path);
    return {};
  }
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  auto slash = trimmed.rfind('/');
  std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : trimmed.substr(0, slash);
  std::string base = slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") return fail(ErrorKind::usage, "remove_tree: refusing to remove '" + path + "'");

  UniqueFd top(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!top) return fail_sys("open", parent);
  make_writable(top.get(), base);
  UniqueFd cur(::openat(top.get(), base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!cur) return fail_sys("open", path);
  if (::fstat(cur.get(), &st) != 0) return fail_sys("stat", path);
  const dev_t root_dev = st.st_dev;

  std::vector<Level> stack;
  stack.push_back({base, st.st_dev, st.st_ino, TRY(clear_files(cur.get(), path))});
  while (!stack.empty()) {
    Level& level = stack.back();
    if (!level.subdirs.empty()) {
      std::string name = std::move(level.subdirs.back());
      level.subdirs.pop_back();
      make_writable(cur.get(), name);
      UniqueFd child(::openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!child) {
        if (errno == ENOENT) continue;
        return fail_sys("open", shown_path(path, stack, name));
      }
      if (::fstat(child.get(), &st) != 0) return fail_sys("stat", shown_path(path, stack, name));
      if (st.st_dev != root_dev)
        return fail(ErrorKind::io, "remove " + shown_path(path, stack, name) + ": a mount point, not crossed", EBUSY);
      std::string shown = shown_path(path, stack, name);
      cur = std::move(child);
      stack.push_back({std::move(name), st.st_dev, st.st_ino, TRY(clear_files(cur.get(), shown))});
      continue;
    }
    // This directory is empty now: remove it from its parent.
    if (stack.size() == 1) {
      if (::unlinkat(top.get(), base.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) return fail_sys("rmdir", path);
      break;
    }
    UniqueFd up(::openat(cur.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!up) return fail_sys("open ..", shown_path(path, stack, ""));
    const Level& above = stack[stack.size() - 2];
    if (::fstat(up.get(), &st) != 0) return fail_sys("stat ..", shown_path(path, stack, ""));
    if (st.st_dev != above.dev || st.st_ino != above.ino)
      return fail(ErrorKind::io, "remove " + shown_path(path, stack, "") + ": the tree was moved while being removed");
    if (::unlinkat(up.get(), level.name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
      return fail_sys("rmdir", shown_path(path, stack, ""));
    stack.pop_back();
    cur = std::move(up);
  }
  return {};
}

}  // namespace gantry
