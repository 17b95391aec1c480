// The limits of the containers gantry starts for a pipeline: stages and build
// steps get the runner's default limits (RunnerConfig::limits: memory, pids,
// upper tmpfs size, largest file on an on-disk upper), with a stage's own
// `limits:` over them. `gantry exec` keeps only its explicit flags.
#pragma once

#include "executor/container.h"
#include "pipeline/pipeline.h"
#include "runner/runner_config.h"

namespace gantry::runner {

executor::Limits container_limits(const DefaultLimits& defaults, const pipeline::Limits& own = {});

}  // namespace gantry::runner
