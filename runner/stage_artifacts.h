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

// A regular file read out of a container's merged view.
struct ContainerFile {
  std::string path;   // as the container sees it
  std::string bytes;
};

// The regular files whose path matches `pattern` (absolute; only the last
// component may be a glob, fnmatch(3)) in the merged view of upper_dir over
// lowerdirs, sorted by name, each read whole. Nothing is followed: a
// directory on the way that is a symlink, a matching symlink or a special
// file is skipped with a line in `skipped`, as is a file over max_bytes. A
// missing directory matches nothing.
Result<std::vector<ContainerFile>> read_container_files(const std::string& pattern, const std::string& upper_dir,
                                                        const std::vector<std::string>& lowerdirs,
                                                        std::size_t max_bytes, std::vector<std::string>& skipped);

}  // namespace gantry::runner
