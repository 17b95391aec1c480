// Globs over '/'-separated tree paths: '*', '?' and '[...]' inside one
// segment (fnmatch, dotfiles included), '**' for any number of segments.
#include <fnmatch.h>

#include <string>
#include <vector>

#include "pipeline/git_repo.h"

namespace gantry::pipeline {

namespace {

std::vector<std::string> split(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

bool match_segments(const std::vector<std::string>& pat, std::size_t pi, const std::vector<std::string>& path,
                    std::size_t si) {
  while (pi < pat.size()) {
    if (pat[pi] == "**") {
      // Collapse runs of "**", then try every split point.
      while (pi + 1 < pat.size() && pat[pi + 1] == "**") ++pi;
      if (pi + 1 == pat.size()) return true;
      for (std::size_t k = si; k <= path.size(); ++k)
        if (match_segments(pat, pi + 1, path, k)) return true;
      return false;
    }
    if (si >= path.size()) return false;
    if (::fnmatch(pat[pi].c_str(), path[si].c_str(), 0) != 0) return false;
    ++pi, ++si;
  }
  return si == path.size();
}

}  // namespace

bool is_glob(std::string_view text) { return text.find_first_of("*?[") != std::string_view::npos; }

bool glob_match(std::string_view pattern, std::string_view path) {
  return match_segments(split(pattern), 0, split(path), 0);
}

std::string glob_prefix(std::string_view pattern) {
  std::string prefix;
  auto segments = split(pattern);
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (is_glob(segments[i])) break;
    if (!prefix.empty()) prefix += '/';
    prefix += segments[i];
  }
  return prefix;
}

}  // namespace gantry::pipeline
