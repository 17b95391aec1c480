// Small file helpers shared by every layer: whole-file reads, durable atomic
// publication (write to a temp file in the same directory tree, fsync,
// rename, fsync the directory), and an RAII temporary directory.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace gantry {

Result<std::string> read_file(const std::string& path);

// Writes `data` to `tmp_dir/<random>` then renames it to `path` (same
// filesystem). The reader sees the old file or the whole new one, never a part.
// The temp file is created with `mode` (and fchmod'ed to exactly it, whatever
// the umask) before its first byte is written: a credential or key passes
// 0600 and is never readable by others, not even while it is being written.
Status write_file_atomic(const std::string& path, std::string_view data, const std::string& tmp_dir,
                         unsigned mode = 0644);

// fsync of a directory, so that a rename into it survives a crash.
Status fsync_dir(const std::string& dir);

// The names in a directory (not "." and ".."), sorted bytewise.
Result<std::vector<std::string>> list_dir(const std::string& dir);

// mkdir -p with the given mode for created directories.
Status make_dirs(const std::string& path, unsigned mode = 0755);

// rm -rf that never follows symlinks and stays on one filesystem's tree walk
// (mount points below `path` are not crossed: they are reported as errors).
// The walk is fd-relative (openat/unlinkat, O_NOFOLLOW) with one directory
// open at a time, so a tree of any depth (paths far past PATH_MAX) goes.
// Read-only directories (unpacked layers) are made writable on the way.
// (remove_tree.cpp)
Status remove_tree(const std::string& path);

// A unique name fragment: pid, time and random bits.
std::string unique_suffix();

// A directory created under `parent` (mkdtemp) and removed with everything in
// it when the object dies, unless release() was called.
class TempDir {
 public:
  static Result<TempDir> create(const std::string& parent, std::string_view prefix = "tmp-");
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::string& path() const { return path_; }
  std::string release() { return std::exchange(path_, {}); }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace gantry
