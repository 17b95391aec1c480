#include "common/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <chrono>
#include <cstdlib>
#include <random>

#include "common/fault_injection.h"
#include "common/read_fd.h"
#include "common/unique_fd.h"

namespace gantry {

Result<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_sys("open", path);
  return read_fd(fd.get(), path);
}

std::string unique_suffix() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  static constexpr char kAlnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s = std::to_string(::getpid()) + "-";
  for (int i = 0; i < 10; ++i) s.push_back(kAlnum[rng() % 36]);
  return s;
}

Status fsync_dir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail_sys("open", dir);
  TRY(fault::point(fault::Op::dir_fsync, dir));
  if (::fsync(fd.get()) != 0) return fail_sys("fsync", dir);
  return {};
}

Status write_file_atomic(const std::string& path, std::string_view data, const std::string& tmp_dir,
                         unsigned mode) {
  std::string tmp = tmp_dir + "/write-" + unique_suffix();
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777));
  if (!fd) return fail_sys("create", tmp);
  // The umask may only have taken bits away; make the mode exact (still before any byte).
  if (::fchmod(fd.get(), mode & 07777) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail_sys("fchmod", tmp, err);
  }
  // The failure of a fault point (common/fault_injection.h) is handled like the real one below.
  auto injected = [&](fault::Op op, const std::string& where) -> Status {
    if (auto st = fault::point(op, where); !st) {
      ::unlink(tmp.c_str());
      return st;
    }
    return {};
  };
  TRY(injected(fault::Op::write, tmp));
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::unlink(tmp.c_str());
      return fail_sys("write", tmp, err);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  TRY(injected(fault::Op::fsync, tmp));
  if (::fsync(fd.get()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail_sys("fsync", tmp, err);
  }
  fd.reset();
  TRY(injected(fault::Op::rename, path));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail_sys("rename to", path, err);
  }
  auto slash = path.find_last_of('/');
  return fsync_dir(slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash)));
}

Result<std::vector<std::string>> list_dir(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return fail_sys("opendir", dir);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d.get())) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Status make_dirs(const std::string& path, unsigned mode) {
  if (path.empty()) return {};
  std::string cur;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return fail_sys("mkdir", cur);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail_sys("stat", path);
  if (!S_ISDIR(st.st_mode)) return fail(ErrorKind::io, "mkdir " + path + ": exists and is not a directory", ENOTDIR);
  return {};
}

Result<TempDir> TempDir::create(const std::string& parent, std::string_view prefix) {
  std::string tmpl = parent + "/" + std::string(prefix) + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return fail_sys("mkdtemp", tmpl);
  return TempDir(std::move(tmpl));
}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) (void)remove_tree(path_);
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

TempDir::~TempDir() {
  if (!path_.empty()) (void)remove_tree(path_);
}

}  // namespace gantry
