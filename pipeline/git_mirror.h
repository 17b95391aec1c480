// Private to pipeline/: the bare mirrors of remote repositories.
//   <mirror_root>/<sha256-hex of URL>/       a bare repository, remote "origin" = URL,
//                                            fetchspec +refs/*:refs/* (all refs, pruned)
//   <mirror_root>/<sha256-hex of URL>.lock   flock held while creating or fetching
// A new mirror is made in <hex>.tmp-<unique>/ and renamed into place, so a
// killed first fetch never leaves a half mirror behind.
#pragma once

#include <string>

#include "common/error.h"

namespace gantry::pipeline {

// Creates or updates the mirror of `url`; returns its directory.
Result<std::string> sync_mirror(const std::string& url, const std::string& mirror_root);

}  // namespace gantry::pipeline
