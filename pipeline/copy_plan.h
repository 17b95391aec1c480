// What a `copy` step puts into its layer, resolved against a commit's tree:
// the git entries and where each lands in the image. The runner writes the
// layer from these (blob bytes via GitRepo::read_blob) and keys the step by
// their (dest, mode, oid) — no file is read to key a copy.
//
// Rules (docs/pipeline.md, "copy"):
//  - a directory source copies its contents into dest (dest/<path below it>);
//  - a file or symlink source goes to dest/<basename> when dest ends in '/',
//    or there are several sources, or the source is a glob; otherwise to dest;
//  - a glob's matches keep their path below the glob's fixed prefix (the
//    directories before the first segment with a wildcard): src/**/*.c →
//    /app/ puts src/a/b.c at /app/a/b.c;
//  - parent directories of every destination are included (mode 0755);
//  - a later source overwrites an earlier one at the same destination;
//  - a `!pattern` source removes what the sources before it put whose git
//    path it matches (pipeline/path_filter.h); it counts as no source.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"
#include "pipeline/git_repo.h"
#include "pipeline/pipeline.h"

namespace gantry::pipeline {

struct CopyItem {
  std::string dest;   // in the image, relative to its root: "app/src/main.c" (no leading '/')
  TreeEntry entry;    // the git entry (mode kModeTree for directories; a parent directory
                      // made up for the destination has an empty oid and path)
};

// Items sorted by dest (parents before children). not_found naming the
// source and the commit when a source matches nothing.
Result<std::vector<CopyItem>> plan_copy(GitRepo& repo, const Commit& commit, const Step& copy_step);

}  // namespace gantry::pipeline
