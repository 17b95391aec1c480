// Exclude patterns in `copy` sources and stage `inputs`: an entry written
// `!PATTERN` removes, from what the entries before it included, every path
// it matches (and everything below a directory it matches). Entries are
// applied in order, so a later include can bring a path back:
//   copy: [".", "!docs/", "!*.md", "docs/api.md", /src/]
// PATTERN follows the include rules (relative to the pipeline file's
// directory, '/' first = the repository root, globs as git_repo.h's list)
// except that a pattern with no '/' but a trailing one matches at any depth
// below that directory, as in .gitignore ("!*.md", "!build/"); a trailing
// '/' matches directories only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/git_repo.h"

namespace gantry::pipeline {

// True for an entry written "!PATTERN".
inline bool is_exclude(std::string_view entry) { return entry.starts_with('!'); }

// The tree form of an exclude as written (without its '!'): "!" + a glob over
// tree paths ("!**/*.md", "!ci/docs/"); nullopt when it leaves the repository
// or is empty.
std::optional<std::string> exclude_tree_pattern(const std::string& base_dir, std::string_view pattern);

// Whether the tree-form exclude (with or without its '!') removes `entry`:
// it matches the entry's path or the path of a directory above it.
bool excluded_by(std::string_view tree_exclude, const TreeEntry& entry);

}  // namespace gantry::pipeline
