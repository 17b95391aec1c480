#include "pipeline/path_filter.h"

#include "pipeline/parse_parts.h"

namespace gantry::pipeline {

std::optional<std::string> exclude_tree_pattern(const std::string& base_dir, std::string_view pattern) {
  if (pattern.starts_with('!')) pattern.remove_prefix(1);
  const bool dir_only = pattern.ends_with('/');
  std::string body(pattern);
  while (body.ends_with('/')) body.pop_back();
  while (body.starts_with("./")) body.erase(0, 2);
  if (body.empty() || body == ".") return std::nullopt;
  std::string tree;
  if (!pattern.starts_with('/') && body.find('/') == std::string::npos) {
    // A bare name or glob: at any depth below the pipeline's directory.
    tree = base_dir.empty() ? "**/" + body : base_dir + "/**/" + body;
  } else {
    auto normal = normalize_tree_path(base_dir, std::string(pattern.starts_with('/') ? "/" : "") + body);
    if (!normal || normal->empty()) return std::nullopt;
    tree = *normal;
  }
  return "!" + tree + (dir_only ? "/" : "");
}

bool excluded_by(std::string_view tree_exclude, const TreeEntry& entry) {
  if (tree_exclude.starts_with('!')) tree_exclude.remove_prefix(1);
  const bool dir_only = tree_exclude.ends_with('/');
  while (tree_exclude.ends_with('/')) tree_exclude.remove_suffix(1);
  if (entry.path.empty()) return false;
  // The entry itself, then each directory above it.
  for (std::size_t end = entry.path.size();;) {
    std::string_view prefix(entry.path.data(), end);
    const bool is_dir = end < entry.path.size() || entry.is_dir();
    if ((!dir_only || is_dir) && glob_match(tree_exclude, prefix)) return true;
    auto slash = prefix.rfind('/');
    if (slash == std::string_view::npos) return false;
    end = slash;
  }
}

}  // namespace gantry::pipeline
