#include "cache/store_modes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

#include "common/unique_fd.h"

namespace gantry::cache {

namespace {

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Result<UniqueFd> open_dir(const std::string& path, bool follow) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW)));
  if (!fd) return fail_sys("open", path);
  return fd;
}

}  // namespace

std::vector<std::string> private_store_dirs(const StorePaths& p) {
  return {p.root(), p.root() + "/blobs", p.blobs_dir(), p.layers_dir(), p.runs_dir(), p.tmp_root(), p.root() + "/git"};
}

Status make_private_dir(const std::string& path, bool follow) {
  if (::mkdir(path.c_str(), kStoreDirMode) != 0 && errno != EEXIST) return fail_sys("mkdir", path);
  UniqueFd fd = TRY(open_dir(path, follow));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_sys("stat", path);
  if ((st.st_mode & 07777) != kStoreDirMode && st.st_uid == ::geteuid() && ::fchmod(fd.get(), kStoreDirMode) != 0)
    return fail_sys("chmod", path);
  return {};
}

Result<std::vector<std::string>> check_store_modes(const StorePaths& paths, bool fix) {
  std::vector<std::string> findings;
  bool first = true;
  for (const std::string& dir : private_store_dirs(paths)) {
    bool follow = std::exchange(first, false);
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW)));
    if (!fd) {
      if (errno == ENOENT) continue;
      if (errno == ELOOP || errno == ENOTDIR) {
        findings.push_back(dir + " is not a directory (a symlink?): the store's modes cannot guard it");
        continue;
      }
      return fail_sys("open", dir);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail_sys("stat", dir);
    if ((st.st_mode & 077) == 0) continue;
    std::string line = dir + " is " + octal(st.st_mode) + ": other host users could reach the store's unpacked "
                       "layers (setuid binaries, device nodes)";
    if (fix && st.st_uid == ::geteuid()) {
      if (::fchmod(fd.get(), kStoreDirMode) != 0) return fail_sys("chmod", dir);
      line += "; set to 0700";
    } else {
      line += "; it belongs to uid " + std::to_string(st.st_uid) + ": `chmod 0700 " + dir + "` as its owner";
    }
    findings.push_back(std::move(line));
  }
  return findings;
}

}  // namespace gantry::cache
