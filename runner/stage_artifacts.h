// Artifacts: paths a stage declares, copied out of its container after it
// passes into <run dir>/artifacts/<stage>/<path without the leading '/'>,
// and given to every stage that needs it (directly or not) read-only at
// /artifacts/<stage>/<path>. A path is read from the container's upper dir
// (what the stage wrote) and the image's layers as overlayfs merges them
// (top first; a whiteout means the stage deleted it, an opaque directory
// hides the layers below). Nothing is followed: a symlink is copied as a
// symlink, a path through one is refused (docs/security.md).
#pragma once

#include <string>
#include <vector>

#include "common/error.h"

namespace gantry::runner {

inline constexpr const char* kArtifactsMount = "/artifacts";

// Copies each artifact into dest_dir (created). invalid_input naming the path
// when an artifact does not exist after the stage.
Status collect_artifacts(const std::vector<std::string>& paths, const std::string& upper_dir,
                         const std::vector<std::string>& lowerdirs, const std::string& dest_dir);

}  // namespace gantry::runner
