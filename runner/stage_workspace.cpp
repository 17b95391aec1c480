#include "runner/stage_workspace.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "common/unique_fd.h"
#include "pipeline/path_filter.h"

namespace gantry::runner {

namespace {

// A tree path must stay inside the workspace: no absolute paths, no "..".
bool safe_path(const std::string& p) {
  if (p.empty() || p.front() == '/') return false;
  std::size_t start = 0;
  while (start <= p.size()) {
    std::size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    std::string_view seg(p.data() + start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    start = end + 1;
  }
  return true;
}

Status write_all(int fd, const std::string& data, const std::string& path) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_sys("write", path);
    }
    off += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

std::string WorkspaceCache::relative(const std::string& tree_path) const {
  if (base_dir_.empty()) return tree_path;
  if (tree_path == base_dir_) return "";
  return tree_path.substr(base_dir_.size() + 1);
}

Result<std::vector<pipeline::TreeEntry>> WorkspaceCache::entries(const std::vector<std::string>& tree_inputs) {
  std::vector<pipeline::TreeEntry> out;
  std::set<std::string> seen;
  auto add_all = [&](std::vector<pipeline::TreeEntry> list) {
    for (auto& e : list) {
      // Only what lies below the pipeline's directory is part of its workspace.
      if (!base_dir_.empty() && e.path != base_dir_ && !e.path.starts_with(base_dir_ + "/")) continue;
      if (e.path == base_dir_) continue;
      if (seen.insert(e.path).second) out.push_back(std::move(e));
    }
  };
  if (tree_inputs.empty()) {
    add_all(TRY(repo_.list(commit_, base_dir_)));
  } else {
    for (const auto& input : tree_inputs) {
      if (pipeline::is_exclude(input)) {  // removes what the inputs before it added
        std::erase_if(out, [&](const pipeline::TreeEntry& e) {
          if (!pipeline::excluded_by(input, e)) return false;
          seen.erase(e.path);
          return true;
        });
        continue;
      }
      add_all(TRY(repo_.list(commit_, input)));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  return out;
}

Result<WorkspaceView> WorkspaceCache::view(const std::vector<std::string>& tree_inputs) {
  WorkspaceView v;
  v.inputs = tree_inputs;
  if (tree_inputs.empty()) {
    v.identity = {{"tree", TRY(repo_.tree_id(commit_, base_dir_))}};
    return v;
  }
  // With excludes, a directory's tree id would still change with what was
  // excluded below it: what remains is keyed by its files' ids alone.
  const bool excludes = std::any_of(tree_inputs.begin(), tree_inputs.end(),
                                    [](const std::string& i) { return pipeline::is_exclude(i); });
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : TRY(entries(tree_inputs)))
    list.push_back({relative(e.path), e.mode, excludes && e.is_dir() ? std::string() : e.oid});
  v.identity = {{"entries", std::move(list)}};
  return v;
}

Status WorkspaceCache::write_tree(const std::string& dir, const std::vector<pipeline::TreeEntry>& list) {
  for (const auto& e : list) {
    std::string rel = relative(e.path);
    if (!safe_path(rel)) return fail(ErrorKind::invalid_input, "unsafe path in git tree: '" + e.path + "'");
    std::string path = dir + "/" + rel;
    auto slash = rel.find_last_of('/');
    if (slash != std::string::npos) TRY(make_dirs(dir + "/" + rel.substr(0, slash)));
    if (e.is_dir() || e.mode == pipeline::kModeSubmodule) {
      TRY(make_dirs(path));
      continue;
    }
    std::string data = TRY_CTX(repo_.read_blob(e.oid), "materialising " + e.path);
    if (e.is_symlink()) {
      if (::symlink(data.c_str(), path.c_str()) != 0) return fail_sys("symlink", path);
      continue;
    }
    mode_t mode = e.mode == pipeline::kModeExecutable ? 0755 : 0644;
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!fd) return fail_sys("create", path);
    TRY(write_all(fd.get(), data, path));
    if (::fchmod(fd.get(), mode) != 0) return fail_sys("chmod", path);  // umask-proof
  }
  return {};
}

Result<std::string> WorkspaceCache::materialize(const std::vector<std::string>& tree_inputs) {
  std::lock_guard lock(mutex_);
  if (auto it = dirs_.find(tree_inputs); it != dirs_.end()) return it->second.path() + "/ws";
  auto dir = TRY(TempDir::create(scratch_, "workspace-"));
  std::string root = dir.path() + "/ws";
  if (::mkdir(root.c_str(), 0755) != 0) return fail_sys("mkdir", root);
  auto list = TRY(entries(tree_inputs));
  TRY(write_tree(root, list));
  ::chmod(root.c_str(), 0755);
  auto [it, _] = dirs_.emplace(tree_inputs, std::move(dir));
  return it->second.path() + "/ws";
}

}  // namespace gantry::runner
