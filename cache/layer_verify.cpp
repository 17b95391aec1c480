#include "cache/layer_verify.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <map>
#include <set>
#include <sstream>

#include "cache/layer_unpacker.h"
#include "cache/store.h"
#include "cache/store_maintenance.h"
#include "common/file_util.h"
#include "common/unique_fd.h"
#include "common/userns.h"

namespace gantry::cache {

namespace {

Result<std::string> hash_file(int dir_fd, const std::string& name, const std::string& path) {
  UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fail_sys("open", path);
  Sha256 hash;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_sys("read", path);
    if (n == 0) break;
    hash.update(buf, static_cast<std::size_t>(n));
  }
  return hash.finish().hex();
}

std::string opaque_mark(int fd) {
  char value[8];
  // Where layer_unpacker put it: user.overlay.* without root (docs/rootless.md).
  ssize_t n = ::fgetxattr(fd, userns::rootless() ? "user.overlay.opaque" : "trusted.overlay.opaque", value, sizeof value);
  return n > 0 ? " opaque=" + std::string(value, static_cast<std::size_t>(n)) : std::string();
}

// Appends one line per entry below the directory open at dir_fd.
Status walk(int dir_fd, const std::string& rel, const std::string& root, std::map<std::string, std::string>& out) {
  int dup_fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return fail_sys("dup", root + rel);
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(dup_fd), ::closedir);
  if (!dir) {
    ::close(dup_fd);
    return fail_sys("opendir", root + rel);
  }
  while (dirent* e = ::readdir(dir.get())) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = rel + "/" + name;
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return fail_sys("stat", root + path);
    std::ostringstream line;
    line << std::oct << (st.st_mode & 07777) << std::dec << " " << st.st_uid << ":" << st.st_gid << " ";
    if (S_ISREG(st.st_mode)) {
      line << "f " << st.st_size << " " << TRY(hash_file(dir_fd, name, root + path));
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
      if (n < 0) return fail_sys("readlink", root + path);
      target.resize(static_cast<std::size_t>(n));
      line << "l " << target;
    } else if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) return fail_sys("open", root + path);
      line << "d" << opaque_mark(sub.get());
      out[path] = line.str();
      TRY(walk(sub.get(), path, root, out));
      continue;
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      line << (S_ISCHR(st.st_mode) ? "c " : "b ") << major(st.st_rdev) << "," << minor(st.st_rdev);
    } else if (S_ISFIFO(st.st_mode)) {
      line << "p";
    } else {
      line << "? " << (st.st_mode & S_IFMT);
    }
    out[path] = line.str();
  }
  return {};
}

}  // namespace

Result<std::string> describe_tree(const std::string& root) {
  UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fail_sys("open", root);
  std::map<std::string, std::string> entries;
  TRY(walk(fd.get(), "", root, entries));
  std::string text;
  for (const auto& [path, line] : entries) text += path + " " + line + "\n";
  return text;
}

namespace {

// The first line where two descriptions differ, for the fault message.
std::string first_difference(const std::string& stored, const std::string& fresh) {
  std::istringstream a(stored), b(fresh);
  std::string la, lb;
  for (;;) {
    bool ha = static_cast<bool>(std::getline(a, la));
    bool hb = static_cast<bool>(std::getline(b, lb));
    if (!ha && !hb) return "trees differ";
    if (la != lb || ha != hb) {
      if (!ha) return "missing on disk: " + lb.substr(0, lb.find(' '));
      if (!hb) return "not in the blob: " + la.substr(0, la.find(' '));
      return "on disk '" + la + "', the blob says '" + lb + "'";
    }
  }
}

}  // namespace

Result<std::optional<std::string>> verify_unpacked_layer(Store& store, const Digest& blob, const Digest& diff_id,
                                                         const std::string& media_type) {
  const std::string dir = store.paths().layer_dir(diff_id);
  auto stored = TRY(describe_tree(dir));
  auto scratch = TRY(unpack_layer_file(store, store.paths().blob(blob), LayerDescriptor{blob, diff_id, 0, media_type}));
  auto fresh = TRY(describe_tree(scratch.path() + "/root"));
  if (stored == fresh) return std::optional<std::string>();
  return std::optional<std::string>(first_difference(stored, fresh));
}

Status check_unpacked_layers(Store& store, FsckReport& report) {
  auto stmt = TRY(store.db().prepare("SELECT digest, diff_id, media_type FROM layers ORDER BY diff_id"));
  std::set<std::string> seen;
  while (TRY(stmt.step())) {
    auto blob = Digest::parse(stmt.column_text(0));
    auto diff_id = Digest::parse(stmt.column_text(1));
    if (!blob || !diff_id || !seen.insert(diff_id->hex()).second) continue;
    struct stat st {};
    if (::lstat(store.paths().layer_dir(*diff_id).c_str(), &st) != 0) continue;  // not unpacked (yet)
    if (!store.blobs().has(*blob)) continue;  // fsck's reference check reports a missing blob
    ++report.layers_checked;
    auto difference = verify_unpacked_layer(store, *blob, *diff_id, stmt.column_text(2));
    if (!difference)
      report.faults.push_back("layer " + diff_id->str() + ": cannot verify its unpacked tree: " +
                              difference.error().message());
    else if (*difference)
      report.faults.push_back("layer " + diff_id->str() + ": unpacked tree differs from blob " + blob->str() + ": " +
                              **difference);
  }
  return {};
}

}  // namespace gantry::cache
