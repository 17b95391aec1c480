// What a run is on a fleet (issue 17; docs/scale-out.md): jobs on the
// PostgreSQL queue (pgstore/pg_queue.h) that agents claim, with the `needs`
// that order them. No coordinator: the queue makes a job claimable in the
// transaction that records the last result it waited for.
//
//   build              pins every image of the run to a digest (building the
//                      file's images) and pushes each to the agents' registry
//   stage:<name>       one stage; needs build, its own needs, and the
//                      promotion into the environment before its own
//   promote:<env>      attests and promotes the run's images into <env>; needs
//                      every stage of <env> (and the promotion before it)
//
// Environments from the first manual gate on are not queued: the run ends
// "waiting" there, as a local run does.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "pgstore/pg_queue.h"
#include "pipeline/pipeline.h"

namespace gantry::runner {

enum class FleetJobKind { build, stage, promote };

struct FleetJob {
  FleetJobKind kind = FleetJobKind::build;
  std::string target;  // the stage's or the environment's name ("" for build)

  std::string name() const;     // "build", "stage:NAME", "promote:ENV"
  std::string payload() const;  // {"kind", "target"} as JSON
  // A claimed job's payload; invalid_input naming the job for anything else.
  static Result<FleetJob> parse(const std::string& name, const std::string& payload);
};

// The jobs of one run of `pipeline`, in a valid enqueue order. first > 0:
// `gantry promote` opened the manual gate of environment `first`: the jobs of
// the environments from it up to the next manual gate, without a build job
// (the run's images are pinned) and without needs on the jobs that already
// passed before the gate.
std::vector<pgstore::JobSpec> plan_fleet_jobs(const pipeline::Pipeline& pipeline, const std::string& run_id,
                                              std::size_t first = 0);

// The manual gate the run stops at once the environments up to index `last`
// (the last one with jobs; -1: none) are done, if any.
std::optional<std::string> fleet_gate(const pipeline::Pipeline& pipeline, int last = -1);

}  // namespace gantry::runner
