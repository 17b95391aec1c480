// Artifacts are read from trees the stage (or the image) filled and written
// into the runner's run dir, as root: every lookup is fd-relative from a
// layer's root (common/rooted_path.h) and never follows a symlink, on either
// side. A symlink the stage made is copied as a symlink; a path that goes
// through one is refused, since the host would resolve it against its own
// filesystem. Paths are resolved over the layers as overlayfs does
// (whiteouts delete, opaque directories hide what is below them, a directory
// artifact merges every layer's part of it), so an artifact holds what the
// stage saw.
#include "runner/stage_artifacts.h"

#include <dirent.h>
#include <fnmatch.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
#include <vector>

#include "common/file_util.h"
#include "common/rooted_path.h"

namespace gantry::runner {

namespace {

bool is_whiteout(const struct stat& st) { return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0); }

std::string join(const std::vector<std::string>& comps, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += "/" + comps[i];
  return out;
}

// Makes room for a new entry at dir/name: an existing non-directory is
// removed (never followed); an existing directory stays for a new directory.
Status clear_slot(int dir, const std::string& name, bool new_is_dir, const std::string& shown) {
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return fail_sys("stat", shown);
  }
  if (S_ISDIR(st.st_mode)) {
    if (new_is_dir) return {};
    return fail(ErrorKind::invalid_input, shown + " is already a directory among the artifacts");
  }
  if (::unlinkat(dir, name.c_str(), 0) != 0) return fail_sys("remove", shown);
  return {};
}

// Copies the data of a file of `size` bytes, hole for hole: a stage's sparse
// 64 GiB file (a few blocks of its tmpfs) stays a few blocks on the host.
Status copy_bytes(int in, int out, off_t size, const std::string& shown) {
  std::vector<char> buf(128 * 1024);
  off_t pos = 0;
  while (pos < size) {
    off_t data = ::lseek(in, pos, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // only a hole is left
    if (data < 0) data = pos;               // no SEEK_DATA here: copy everything
    off_t hole = ::lseek(in, data, SEEK_HOLE);
    if (hole < 0) hole = size;
    for (pos = data; pos < hole;) {
      ssize_t n = ::pread(in, buf.data(), static_cast<std::size_t>(std::min<off_t>(hole - pos, buf.size())), pos);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail_sys("read", shown);
      if (n == 0) return fail(ErrorKind::io, "read " + shown + ": the file shrank while it was copied");
      for (ssize_t done = 0; done < n;) {
        ssize_t w = ::pwrite(out, buf.data() + done, static_cast<std::size_t>(n - done), pos + done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return fail_sys("write", shown);
        done += w;
      }
      pos += n;
    }
  }
  if (::ftruncate(out, size) != 0) return fail_sys("truncate", shown);
  return {};
}

Result<std::string> read_link_at(int dir, const std::string& name, const std::string& shown) {
  std::string target(256, '\0');
  for (;;) {
    ssize_t n = ::readlinkat(dir, name.c_str(), target.data(), target.size());
    if (n < 0) return fail_sys("readlink", shown);
    if (static_cast<std::size_t>(n) < target.size()) {
      target.resize(static_cast<std::size_t>(n));
      return target;
    }
    target.resize(target.size() * 2);
  }
}

// Copies the non-directory src_dir/name (stat `st`) to dst_dir/name: a file
// (setuid/setgid bits dropped), a symlink as a symlink; special files are
// skipped. `shown` is the path in the container.
Status copy_leaf_at(int src_dir, const struct stat& st, int dst_dir, const std::string& name, const std::string& shown) {
  if (S_ISLNK(st.st_mode)) {
    auto target = TRY(read_link_at(src_dir, name, shown));
    TRY(clear_slot(dst_dir, name, false, shown));
    if (::symlinkat(target.c_str(), dst_dir, name.c_str()) != 0) return fail_sys("symlink", shown);
  } else if (S_ISREG(st.st_mode)) {
    UniqueFd in(::openat(src_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) return fail_sys("open", shown);
    TRY(clear_slot(dst_dir, name, false, shown));
    UniqueFd out(::openat(dst_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return fail_sys("create", shown);
    TRY(copy_bytes(in.get(), out.get(), st.st_size, shown));
    if (::fchmod(out.get(), st.st_mode & 01777) != 0) return fail_sys("chmod", shown);
  }
  return {};
}

// One directory of the container as overlayfs shows it: the same directory
// in every layer that contributes to it, top first, down to an opaque one.
using MergedDir = std::vector<UniqueFd>;

bool is_opaque(int dir) {
  char v = 0;
  for (const char* name : {"trusted.overlay.opaque", "user.overlay.opaque"})
    if (::fgetxattr(dir, name, &v, 1) == 1 && v == 'y') return true;
  return false;
}

// What `name` in a merged directory is: absent (nowhere, or deleted by a
// whiteout), a non-directory (from the topmost layer that has it) or a
// directory (merged over the layers below, as overlayfs does).
struct Entry {
  enum class Kind { absent, leaf, dir } kind = Kind::absent;
  struct stat st {};   // of the topmost one
  int leaf_parent = -1;  // leaf: the layer's directory that holds it
  MergedDir dirs;        // dir: its layers
};

Result<Entry> look_up(const MergedDir& parent, const std::string& name, const std::string& shown) {
  Entry e;
  for (const auto& dir : parent) {
    struct stat st {};
    if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return fail_sys("stat", shown);
    }
    if (is_whiteout(st)) break;  // deleted above everything below
    if (!S_ISDIR(st.st_mode)) {
      if (e.kind == Entry::Kind::absent) e = Entry{Entry::Kind::leaf, st, dir.get(), {}};
      break;  // a non-directory hides what is below it, and is hidden by a directory above
    }
    auto sub = TRY_CTX(open_beneath(dir.get(), name, O_RDONLY | O_DIRECTORY), shown);
    if (e.kind == Entry::Kind::absent) {
      e.kind = Entry::Kind::dir;
      e.st = st;
    }
    bool opaque = is_opaque(sub.get());
    e.dirs.push_back(std::move(sub));
    if (opaque) break;
  }
  return e;
}

Result<std::vector<std::string>> names_in(int dir, const std::string& shown) {
  int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail_sys("open", shown);
  std::unique_ptr<DIR, int (*)(DIR*)> d(::fdopendir(fd), ::closedir);
  if (!d) {
    ::close(fd);
    return fail_sys("opendir", shown);
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  if (errno != 0) return fail_sys("readdir", shown);
  return names;
}

// Copies a merged directory to dst_dir/name with everything the container
// sees in it.
Status copy_dir_at(const MergedDir& dirs, const struct stat& st, int dst_dir, const std::string& name,
                   const std::string& shown, int depth) {
  // A few fds and a stack frame per level: a stage's 100,000-deep tree must
  // end in an error, not in the runner's stack.
  constexpr int kMaxDepth = 256;
  if (depth > kMaxDepth)
    return fail(ErrorKind::invalid_input, shown + ": more than " + std::to_string(kMaxDepth) +
                                              " nested directories in an artifact");
  TRY(clear_slot(dst_dir, name, true, shown));
  if (::mkdirat(dst_dir, name.c_str(), 0700) != 0 && errno != EEXIST) return fail_sys("mkdir", shown);
  UniqueFd to(::openat(dst_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!to) return fail_sys("open", shown);
  std::set<std::string> children;
  for (const auto& dir : dirs)
    for (auto& child : TRY(names_in(dir.get(), shown))) children.insert(std::move(child));
  for (const auto& child : children) {
    std::string child_shown = shown + "/" + child;
    auto e = TRY(look_up(dirs, child, child_shown));
    if (e.kind == Entry::Kind::leaf) TRY(copy_leaf_at(e.leaf_parent, e.st, to.get(), child, child_shown));
    if (e.kind == Entry::Kind::dir) TRY(copy_dir_at(e.dirs, e.st, to.get(), child, child_shown, depth + 1));
  }
  if (::fchmod(to.get(), st.st_mode & 01777) != 0) return fail_sys("chmod", shown);
  return {};
}

// The container's root directory: the upper dir, then the layers from the top.
Result<MergedDir> merged_root(const std::string& upper_dir, const std::vector<std::string>& lowerdirs) {
  std::vector<std::string> root_paths;
  if (!upper_dir.empty()) root_paths.push_back(upper_dir);
  root_paths.insert(root_paths.end(), lowerdirs.rbegin(), lowerdirs.rend());
  MergedDir dirs;
  for (const auto& root : root_paths) {
    dirs.emplace_back(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirs.back()) return fail_sys("open", root);
  }
  return dirs;
}

}  // namespace

Status collect_artifacts(const std::vector<std::string>& paths, const std::string& upper_dir,
                         const std::vector<std::string>& lowerdirs, const std::string& dest_dir) {
  TRY(make_dirs(dest_dir));
  UniqueFd dest(::open(dest_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dest) return fail_sys("open", dest_dir);
  for (const auto& path : paths) {
    auto comps = split_beneath_path(path);
    if (!comps || comps->empty())
      return fail(ErrorKind::invalid_input, "artifact '" + path + "': expected an absolute path inside the container");
    MergedDir dirs = TRY(merged_root(upper_dir, lowerdirs));
    // Down the directories, as the container sees them, never through a link.
    Entry e;
    for (std::size_t i = 0; i < comps->size(); ++i) {
      const std::string shown = join(*comps, i + 1);
      e = TRY(look_up(dirs, (*comps)[i], shown));
      if (e.kind == Entry::Kind::absent) break;
      if (i + 1 == comps->size()) break;
      if (e.kind == Entry::Kind::leaf && S_ISLNK(e.st.st_mode))
        return fail(ErrorKind::invalid_input,
                    "artifact " + path + ": its path goes through a symlink in the container (" + shown +
                        "); an artifact's directories must be real directories (name the path the link points to)",
                    ELOOP);
      if (e.kind == Entry::Kind::leaf) {
        e.kind = Entry::Kind::absent;
        break;
      }
      dirs = std::move(e.dirs);
    }
    if (e.kind == Entry::Kind::absent)
      return fail(ErrorKind::invalid_input, "artifact " + path + " does not exist after the stage");
    auto to = open_dir_beneath(dest.get(), join(*comps, comps->size() - 1), Create::yes, 0755);
    if (!to)
      return fail(std::move(to).error().context("artifact " + path + ": writing into the artifacts of the stage"));
    const std::string shown = join(*comps, comps->size());
    if (e.kind == Entry::Kind::leaf)
      TRY_CTX(copy_leaf_at(e.leaf_parent, e.st, to->get(), comps->back(), shown), "artifact " + path);
    else
      TRY_CTX(copy_dir_at(e.dirs, e.st, to->get(), comps->back(), shown, 0), "artifact " + path);
  }
  return {};
}

Result<std::vector<ContainerFile>> read_container_files(const std::string& pattern, const std::string& upper_dir,
                                                        const std::vector<std::string>& lowerdirs,
                                                        std::size_t max_bytes, std::vector<std::string>& skipped) {
  auto comps = split_beneath_path(pattern);
  if (!comps || comps->empty())
    return fail(ErrorKind::invalid_input, "'" + pattern + "': expected an absolute path inside the container");
  MergedDir dirs = TRY(merged_root(upper_dir, lowerdirs));
  // Down the directories (never through a link) to the one the pattern lists.
  for (std::size_t i = 0; i + 1 < comps->size(); ++i) {
    const std::string shown = join(*comps, i + 1);
    auto e = TRY(look_up(dirs, (*comps)[i], shown));
    if (e.kind == Entry::Kind::absent) return std::vector<ContainerFile>{};
    if (e.kind != Entry::Kind::dir) {
      skipped.push_back(shown + " is not a directory (a symlink is never followed)");
      return std::vector<ContainerFile>{};
    }
    dirs = std::move(e.dirs);
  }
  std::set<std::string> names;
  for (const auto& dir : dirs)
    for (auto& name : TRY(names_in(dir.get(), join(*comps, comps->size() - 1))))
      if (::fnmatch(comps->back().c_str(), name.c_str(), FNM_PERIOD) == 0) names.insert(std::move(name));
  std::vector<ContainerFile> out;
  for (const auto& name : names) {
    const std::string shown = join(*comps, comps->size() - 1) + "/" + name;
    auto e = TRY(look_up(dirs, name, shown));
    if (e.kind == Entry::Kind::absent || e.kind == Entry::Kind::dir) continue;
    if (!S_ISREG(e.st.st_mode)) {
      skipped.push_back(shown + " is not a regular file (a symlink is never followed)");
      continue;
    }
    if (static_cast<std::size_t>(e.st.st_size) > max_bytes) {
      skipped.push_back(shown + " is larger than " + std::to_string(max_bytes >> 20) + " MiB");
      continue;
    }
    UniqueFd in(::openat(e.leaf_parent, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) return fail_sys("open", shown);
    std::string bytes(static_cast<std::size_t>(e.st.st_size), '\0');
    std::size_t got = 0;
    while (got < bytes.size()) {
      ssize_t n = ::read(in.get(), bytes.data() + got, bytes.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail_sys("read", shown);
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    bytes.resize(got);
    out.push_back({shown, std::move(bytes)});
  }
  return out;
}

}  // namespace gantry::runner
