// fsck of the store's git mirrors (<store>/git/<sha256 of URL>/, made by
// `gantry run URL`): each is a bare repository whose origin hashes to its
// name, whose refs all point at objects it holds; with `deep`, every object
// is read back and its hash verified.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"

namespace gantry::pipeline {

struct MirrorCheck {
  std::uint64_t mirrors_checked = 0;
  std::uint64_t objects_checked = 0;  // deep only
  std::vector<std::string> faults;    // one line each, naming the mirror and what is wrong
};

// A missing mirror_root is an empty, healthy set of mirrors.
Result<MirrorCheck> check_mirrors(const std::string& mirror_root, bool deep);

}  // namespace gantry::pipeline
