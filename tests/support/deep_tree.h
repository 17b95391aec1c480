// A directory tree deeper than PATH_MAX, built fd-relative (mkdirat/openat),
// for tests of code that must walk or remove any tree a container can make.
#pragma once

#include <string>

namespace gantry::testing {

// Creates `levels` nested directories with 200-character names under dir
// (which must exist), a file and a symlink to `link_target` at the bottom,
// and a read-only (0555) directory halfway. Returns the length of the
// deepest path (far over PATH_MAX for levels >= 25).
std::size_t make_deep_tree(const std::string& dir, int levels, const std::string& link_target);

}  // namespace gantry::testing
