// A `run` build step: a fresh container over the image's current layers
// (executor, keep_upper), whose upper dir becomes a deterministic layer.
// Private to runner/build_*.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cache/layer_writer.h"
#include "cache/store.h"
#include "pipeline/pipeline.h"
#include "runner/build.h"
#include "runner/reporter.h"

namespace gantry::runner {

struct RunStepRequest {
  const std::vector<cache::LayerDescriptor>& layers;  // bottom to top
  const pipeline::Step& step;
  const pipeline::BuildState& state;  // before the step
  std::int64_t epoch;                 // mtimes clamp (the build epoch, in the step key)
  TaskId task;                        // where the output goes
  std::string what;                   // "image app, step #3 (run: make)" for errors
  std::string init_binary;            // gantry-init; "" = next to this program
  std::string log_path;               // "" = no log kept; else every output line, and how it ended
  DefaultLimits limits;               // the runner's default limits (container_limits.h)
  ContainerLauncher& launcher;        // starts the container
  std::string cache_project;          // whose cache directories `caches:` mounts (BuildRequest::cache_project)
};

// Runs the step; its output goes to reporter.output(task, line). A non-zero
// exit is an invalid_input error "WHAT failed: exit code N"; nothing is
// stored then. Counts containers_started.
Result<cache::LayerDescriptor> run_build_step(cache::Store& store, const RunStepRequest& request,
                                              Reporter& reporter, BuildCounters& counters);

}  // namespace gantry::runner
