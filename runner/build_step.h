// One build step, seen by the build: how it is named to users, the record
// its key is computed from, the config change it makes, and (for copy) the
// layer written straight from git objects. Private to runner/build_*.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cache/layer_writer.h"
#include "cache/step_cache.h"
#include "cache/step_key.h"
#include "cache/store.h"
#include "pipeline/copy_plan.h"
#include "pipeline/git_repo.h"
#include "pipeline/pipeline.h"

namespace gantry::runner {

// "run: make", "copy src/ /app/src/", "env A=1 B=2", "workdir /app", "user app".
std::string describe_step(const pipeline::Step& step);

// The build's epoch: every layer mtime is clamped to it and the image config's
// `created` (and history times) are it, so it is part of every step key.
// The pipeline's `epoch:`, else the runner's $SOURCE_DATE_EPOCH, else 0;
// never the commit time (two histories of one store would disagree).
// invalid_input when $SOURCE_DATE_EPOCH is not a number of seconds.
Result<std::int64_t> build_epoch(const pipeline::Pipeline& pipeline);

// The key record of `step` following `parent` (cache::parent_of_*), run with
// `state` (the state before the step) at `epoch`. `copy_items` are the
// planned entries of a copy step (ignored for other kinds).
cache::StepRecord step_record(const std::string& parent, const pipeline::Step& step,
                              const pipeline::BuildState& state,
                              const std::vector<pipeline::CopyItem>& copy_items, std::int64_t epoch);

// What the step changes in the config: the state after it minus before.
cache::ConfigChange config_change_of(const pipeline::Step& step, const pipeline::BuildState& before,
                                     const pipeline::BuildState& after);
// Applies a recorded change (a cache hit) to the state.
pipeline::BuildState apply_config_change(pipeline::BuildState state, const cache::ConfigChange& change);

// Writes the layer of a copy step from git blobs: directories, files
// (chmod, or 0755/0644 from git's mode) and symlinks, owned by chown
// (default 0:0); made-up parent directories 0755 root. mtimes = `epoch`.
Result<cache::LayerDescriptor> write_copy_layer(cache::Store& store, pipeline::GitRepo& repo,
                                                const std::vector<pipeline::CopyItem>& items,
                                                const pipeline::Step& step, std::int64_t epoch);

// pipeline::BuildState from an image config (Env, WorkingDir, User).
pipeline::BuildState state_from_config(const std::vector<std::string>& env, const std::string& workdir,
                                       const std::string& user);
// "K=V" lines of an EnvList.
std::vector<std::string> env_lines(const pipeline::EnvList& env);

}  // namespace gantry::runner
