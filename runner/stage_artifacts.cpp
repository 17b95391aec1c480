// Artifacts are read from trees the stage (or the image) filled and written
// into the runner's run dir, as root: every lookup is fd-relative from a
// layer's root (common/rooted_path.h) and never follows a symlink, on either
// side. A symlink the stage made is copied as a symlink; a path that goes
// through one is refused, since the host would resolve it against its own
// filesystem.
#include "runner/stage_artifacts.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
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

// Copies src_dir/name to dst_dir/name: a file (setuid/setgid bits dropped),
// a symlink as a symlink, a directory with everything in it; whiteouts and
// special files are skipped. `shown` is the path in the container.
Status copy_entry_at(int src_dir, int dst_dir, const std::string& name, const std::string& shown, int depth = 0) {
  // Two fds and a stack frame per level: a stage's 100,000-deep tree must
  // end in an error, not in the runner's stack.
  constexpr int kMaxDepth = 256;
  if (depth > kMaxDepth)
    return fail(ErrorKind::invalid_input, shown + ": more than " + std::to_string(kMaxDepth) +
                                              " nested directories in an artifact");
  struct stat st {};
  if (::fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return fail_sys("stat", shown);
  const mode_t mode = st.st_mode & 01777;
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
    if (::fchmod(out.get(), mode) != 0) return fail_sys("chmod", shown);
  } else if (S_ISDIR(st.st_mode)) {
    TRY(clear_slot(dst_dir, name, true, shown));
    if (::mkdirat(dst_dir, name.c_str(), 0700) != 0 && errno != EEXIST) return fail_sys("mkdir", shown);
    UniqueFd to(::openat(dst_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!to) return fail_sys("open", shown);
    int from = ::openat(src_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (from < 0) return fail_sys("open", shown);
    std::unique_ptr<DIR, int (*)(DIR*)> d(::fdopendir(from), ::closedir);
    if (!d) {
      ::close(from);
      return fail_sys("opendir", shown);
    }
    std::vector<std::string> children;
    errno = 0;
    while (const dirent* e = ::readdir(d.get())) {
      std::string child = e->d_name;
      if (child != "." && child != "..") children.push_back(std::move(child));
    }
    if (errno != 0) return fail_sys("readdir", shown);
    for (const auto& child : children)
      TRY(copy_entry_at(::dirfd(d.get()), to.get(), child, shown + "/" + child, depth + 1));
    if (::fchmod(to.get(), mode) != 0) return fail_sys("chmod", shown);
  }
  return {};
}

enum class Lookup { found, absent, hidden };

// Looks `comps` up in one layer root without leaving it: found (with the
// parent's fd), absent (look in the layer below) or hidden (a whiteout or a
// non-directory on the way: the path does not exist in the container).
Result<Lookup> look_up(int root, const std::vector<std::string>& comps, const std::string& path, UniqueFd& parent) {
  std::string parent_rel;
  for (std::size_t i = 0; i + 1 < comps.size(); ++i) parent_rel += (i ? "/" : "") + comps[i];
  auto dir = open_beneath(root, parent_rel, O_PATH | O_DIRECTORY);
  if (!dir) {
    if (dir.error().errno_value() == ENOENT) return Lookup::absent;
    if (dir.error().errno_value() == ENOTDIR) return Lookup::hidden;
    if (dir.error().errno_value() == ELOOP)
      return fail(ErrorKind::invalid_input,
                  "artifact " + path + ": its path goes through a symlink in the container; an artifact's " +
                      "directories must be real directories (name the path the link points to instead)",
                  ELOOP);
    return fail(std::move(dir).error().context("artifact " + path));
  }
  struct stat st {};
  if (::fstatat(dir->get(), comps.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Lookup::absent;
    return fail_sys("stat", path);
  }
  if (is_whiteout(st)) return Lookup::hidden;  // deleted by the stage
  parent = std::move(*dir);
  return Lookup::found;
}

}  // namespace

Status collect_artifacts(const std::vector<std::string>& paths, const std::string& upper_dir,
                         const std::vector<std::string>& lowerdirs, const std::string& dest_dir) {
  TRY(make_dirs(dest_dir));
  UniqueFd dest(::open(dest_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dest) return fail_sys("open", dest_dir);
  // Top first: the upper dir, then the layers from the top.
  std::vector<UniqueFd> roots;
  std::vector<std::string> root_paths;
  if (!upper_dir.empty()) root_paths.push_back(upper_dir);
  root_paths.insert(root_paths.end(), lowerdirs.rbegin(), lowerdirs.rend());
  for (const auto& root : root_paths) {
    roots.emplace_back(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!roots.back()) return fail_sys("open", root);
  }
  for (const auto& path : paths) {
    auto comps = split_beneath_path(path);
    if (!comps || comps->empty())
      return fail(ErrorKind::invalid_input, "artifact '" + path + "': expected an absolute path inside the container");
    UniqueFd src;
    Lookup found = Lookup::absent;
    for (const auto& root : roots) {
      found = TRY(look_up(root.get(), *comps, path, src));
      if (found != Lookup::absent) break;
    }
    if (found != Lookup::found)
      return fail(ErrorKind::invalid_input, "artifact " + path + " does not exist after the stage");
    auto to = open_dir_beneath(dest.get(), join(*comps, comps->size() - 1), Create::yes, 0755);
    if (!to)
      return fail(std::move(to).error().context("artifact " + path + ": writing into the artifacts of the stage"));
    TRY_CTX(copy_entry_at(src.get(), to->get(), comps->back(), join(*comps, comps->size())), "artifact " + path);
  }
  return {};
}

}  // namespace gantry::runner
