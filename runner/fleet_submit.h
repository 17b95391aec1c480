// gantry run --db URL (issue 17; docs/scale-out.md): the run is recorded in
// the shared record, its jobs queued (fleet_plan.h), and followed live from
// the queue until the agents have ended it, as a local run is followed. The
// invoking host builds and runs nothing; interrupting it stops only the
// following (the run goes on; `gantry show ID` reads it).
#pragma once

#include <map>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/store.h"
#include "pgstore/pg_queue.h"
#include "pipeline/git_repo.h"
#include "pipeline/pipeline.h"
#include "runner/reporter.h"
#include "runner/run_pipeline.h"

namespace gantry::runner {

struct FleetRun {
  cache::RunRecord record;
  std::vector<pgstore::JobState> jobs;  // as last seen
  bool detached = false;                // stopped following before the run ended
};

// Errors (nothing recorded or queued): an unknown revision, a bad pipeline
// file, a project the repository may not use, a database that cannot be reached.
Result<FleetRun> submit_fleet_run(cache::Store& store, const std::string& db_url, const RunOptions& options,
                                  Reporter& reporter, std::stop_token stop);

// gantry promote on a fleet (PromoteOptions::fleet_db): `run` waits at the
// manual gate of environment `index`, checked by promote_run. Opens the gate
// (recorded), queues the jobs of the environments from it up to the next
// manual gate and follows them as submit_fleet_run does.
Result<cache::RunRecord> promote_on_fleet(cache::Store& store, const std::string& db_url, cache::RunRecord run,
                                          pipeline::GitRepo& repo, const pipeline::Commit& commit,
                                          const pipeline::Pipeline& pipeline, std::size_t index, Reporter& reporter,
                                          std::stop_token stop);

// The run record JSON (run_record_json) with what the fleet adds: each stage's
// "agent" and "attempts" on the queue, and "jobs": [{"name", "state",
// "agent", "attempts", "result"}].
nlohmann::json fleet_run_json(nlohmann::json record, const std::vector<pgstore::JobState>& jobs);

}  // namespace gantry::runner
