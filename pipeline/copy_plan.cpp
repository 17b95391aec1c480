#include "pipeline/copy_plan.h"

#include <map>

#include "pipeline/parse_parts.h"
#include "pipeline/path_filter.h"

namespace gantry::pipeline {

namespace {

std::string join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "/" + b;
}

std::string basename_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// `path` below `dir` ("" = the root): "src/a/b.c" below "src" is "a/b.c".
std::string below(const std::string& dir, const std::string& path) {
  if (dir.empty()) return path;
  return path.size() > dir.size() ? path.substr(dir.size() + 1) : "";
}

}  // namespace

Result<std::vector<CopyItem>> plan_copy(GitRepo& repo, const Commit& commit, const Step& step) {
  if (step.kind != StepKind::copy) return fail(ErrorKind::internal, "plan_copy called on a " + std::string(to_string(step.kind)) + " step");
  auto dest_root = normalize_tree_path("", step.dest);
  if (!dest_root) return fail(ErrorKind::invalid_input, "copy destination '" + step.dest + "' leaves the image root");
  bool any_glob = false;
  std::size_t includes = 0;
  for (const auto& s : step.tree_sources) {
    if (is_exclude(s)) continue;
    any_glob = any_glob || is_glob(s);
    ++includes;
  }
  const bool dest_is_dir = step.dest.ends_with('/') || includes > 1 || any_glob;

  std::map<std::string, CopyItem> items;  // by destination; a later source wins
  auto put = [&](std::string dest, const TreeEntry& e) {
    if (e.mode == kModeSubmodule) return;  // a gitlink has no content in this repository
    CopyItem item{dest, e};
    items[dest] = std::move(item);
  };

  for (std::size_t i = 0; i < step.tree_sources.size(); ++i) {
    const std::string& src = step.tree_sources[i];
    if (is_exclude(src)) {  // removes what the sources before it put (never the destination itself)
      std::erase_if(items, [&](const auto& kv) { return excluded_by(src, kv.second.entry); });
      continue;
    }
    std::vector<TreeEntry> entries = TRY(repo.list(commit, src));
    if (entries.empty())
      return fail(ErrorKind::not_found, "copy source '" + step.sources[i] + "' not found in commit " + commit.short_id);
    if (is_glob(src)) {
      const std::string prefix = glob_prefix(src);
      for (const auto& e : entries) put(join(*dest_root, below(prefix, e.path)), e);
    } else if (src.empty() || entries.front().is_dir()) {
      if (!dest_root->empty() && !items.count(*dest_root)) {
        TreeEntry dir;  // the destination directory itself
        dir.mode = kModeTree;
        put(*dest_root, dir);
      }
      for (const auto& e : entries)
        if (e.path != src) put(join(*dest_root, below(src, e.path)), e);
    } else {
      put(dest_is_dir ? join(*dest_root, basename_of(src)) : *dest_root, entries.front());
    }
  }

  // Parent directories of every destination, made up when not copied.
  std::vector<std::string> parents;
  for (const auto& [dest, item] : items) {
    for (auto slash = dest.find('/'); slash != std::string::npos; slash = dest.find('/', slash + 1))
      parents.push_back(dest.substr(0, slash));
  }
  for (auto& p : parents) {
    if (items.count(p)) continue;
    TreeEntry dir;
    dir.mode = kModeTree;
    items.emplace(p, CopyItem{p, dir});
  }

  std::vector<CopyItem> out;
  out.reserve(items.size());
  for (auto& [dest, item] : items) out.push_back(std::move(item));
  return out;
}

}  // namespace gantry::pipeline
