// One claimed fleet job, run by an agent in its own store (fleet_plan.h for
// the kinds; docs/scale-out.md). The run's record is the shared one
// (PostgreSQL behind store.metadata()); images travel through the agents'
// registry by digest:
//   build    builds the file's images here (step cache and stage cache are
//            the shared record's), pins every stage and service image to a
//            digest, pushes each to REGISTRY/<name>@<digest> and records them
//            with the run: no other agent builds them again;
//   stage    pulls the run's images by digest when this store lacks them and
//            runs the stage in a fresh container, exactly as a local run
//            does (cache, retry, artifacts, reports, services);
//   promote  attests the environment's passed stages and promotes the run's
//            images (one transaction on the shared record; `require:`,
//            `push:`, `export:` as locally).
// settle_fleet_run() ends the run's record once no job of it is left.
#pragma once

#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "attest/signing_key.h"
#include "cache/store.h"
#include "pgstore/pg_queue.h"
#include "runner/container_launcher.h"
#include "runner/fleet_plan.h"
#include "runner/reporter.h"
#include "runner/runner_config.h"

namespace gantry::runner {

struct FleetAgentSettings {
  std::string name;      // the agent's name (recorded with each claim)
  std::string registry;  // HOST[:PORT]/REPO: where the run's images go and come from
  RunnerConfig runner_config;  // the runner's (never the pipeline's): secrets, limits, push/export
  std::string init_binary;     // gantry-init; "" = next to this program
  std::string signing_key;     // provenance of the images it builds (run_attest.h)
  // signing_key (else $GANTRY_SIGNING_KEY, else the config's) loaded once by
  // run_agent, so a bad key stops the agent at start, not every job.
  std::shared_ptr<const attest::SigningKey> key;
  unsigned stage_jobs = 1;     // containers one build job runs at once
  ContainerLauncher* launcher = &executor_launcher();
};

// A worker's last run: its repository, commit and pipeline, loaded once for
// all the jobs of the run it claims one after another (fleet_job.cpp).
struct FleetRunSource;
using FleetRunCache = std::shared_ptr<FleetRunSource>;

struct FleetJobResult {
  bool passed = false;
  std::string detail;  // what the queue records: "passed", the stage's detail, the error
};

// Runs the job; an error (the run unknown, the repository gone, a pull that
// failed) is a failed result naming it, recorded on the stage where there is one.
FleetJobResult run_fleet_job(cache::Store& store, const pgstore::Claim& claim, const FleetAgentSettings& settings,
                             Reporter& reporter, std::stop_token stop, FleetRunCache& cache);

// When every job of the run has ended: stages that never ran get their
// reason (skipped after a failed need, or lost with their agent), and the
// run ends failed, waiting (at its manual gate) or passed. Any agent may call
// it, any number of times: a settled run is left as it is.
Status settle_fleet_run(cache::Store& store, pgstore::PgQueue& queue, const std::string& run_id,
                        const FleetAgentSettings& settings, Reporter& reporter, FleetRunCache& cache);

// The repository an image of a run is pushed to: REGISTRY/<name made a
// repository path component> ("busybox", "app", "127-0-0-1-5000-lib-tag").
std::string fleet_image_repository(const std::string& registry, const std::string& image);

}  // namespace gantry::runner
