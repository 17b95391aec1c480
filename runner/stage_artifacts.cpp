#include "runner/stage_artifacts.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <system_error>

#include "common/file_util.h"

namespace gantry::runner {

namespace fs = std::filesystem;

namespace {

bool is_whiteout(const struct stat& st) { return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0); }

// Copies a file, symlink or directory tree; skips whiteouts and special files.
Status copy_entry(const fs::path& from, const fs::path& to) {
  struct stat st {};
  if (::lstat(from.c_str(), &st) != 0) return fail_sys("lstat", from.string());
  std::error_code ec;
  if (S_ISLNK(st.st_mode)) {
    fs::copy_symlink(from, to, ec);
    if (ec) return fail(ErrorKind::io, "copy symlink " + from.string() + ": " + ec.message());
  } else if (S_ISREG(st.st_mode)) {
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
    if (ec) return fail(ErrorKind::io, "copy " + from.string() + ": " + ec.message());
    ::chmod(to.c_str(), st.st_mode & 07777);
  } else if (S_ISDIR(st.st_mode)) {
    fs::create_directories(to, ec);
    if (ec) return fail(ErrorKind::io, "mkdir " + to.string() + ": " + ec.message());
    for (const auto& child : fs::directory_iterator(from, ec)) TRY(copy_entry(child.path(), to / child.path().filename()));
    if (ec) return fail(ErrorKind::io, "read dir " + from.string() + ": " + ec.message());
  }
  return {};
}

}  // namespace

Status collect_artifacts(const std::vector<std::string>& paths, const std::string& upper_dir,
                         const std::vector<std::string>& lowerdirs, const std::string& dest_dir) {
  TRY(make_dirs(dest_dir));
  for (const auto& path : paths) {
    std::string rel = path;
    while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
    if (rel.empty() || rel.find("..") != std::string::npos)
      return fail(ErrorKind::invalid_input, "artifact '" + path + "': expected an absolute path inside the container");
    // Top first: the upper dir, then the layers from the top.
    std::vector<std::string> roots;
    if (!upper_dir.empty()) roots.push_back(upper_dir);
    roots.insert(roots.end(), lowerdirs.rbegin(), lowerdirs.rend());
    bool found = false;
    for (const auto& root : roots) {
      fs::path candidate = fs::path(root) / rel;
      struct stat st {};
      if (::lstat(candidate.c_str(), &st) != 0) continue;
      if (is_whiteout(st)) break;  // deleted by the stage
      fs::path target = fs::path(dest_dir) / rel;
      std::error_code ec;
      fs::create_directories(target.parent_path(), ec);
      if (ec) return fail(ErrorKind::io, "mkdir " + target.parent_path().string() + ": " + ec.message());
      TRY_CTX(copy_entry(candidate, target), "artifact " + path);
      found = true;
      break;
    }
    if (!found) return fail(ErrorKind::invalid_input, "artifact " + path + " does not exist after the stage");
  }
  return {};
}

}  // namespace gantry::runner
