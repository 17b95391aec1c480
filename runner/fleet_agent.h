// gantry agent: a long-running worker of a fleet (issue 17; docs/scale-out.md)
// with its own store. Up to `jobs` workers each claim the oldest job this
// agent may take (its labels cover the job's runs_on) from the PostgreSQL
// queue, hold its lease by heartbeat while it runs (fleet_job.h), and report
// the result; a result the queue refuses (the lease was lost and the job
// given to another agent) changes nothing. The agent announces itself with
// its labels every few seconds (`gantry agents`).
//
// Leases: a worker renews its claim every lease/3. When a renewal is refused
// (the claim is no longer this agent's), the job is stopped: its containers
// are killed, and whatever it reports is refused. When the database cannot be
// reached, workers wait and retry (libpq reconnects); nothing is lost that a
// lease expiry does not give back to the queue.
//
// Stopping: the first SIGINT/SIGTERM stops claiming; running jobs finish and
// report, then the agent exits 0.
#pragma once

#include <cstdint>
#include <stop_token>
#include <string>
#include <vector>

#include "cache/store.h"
#include "runner/fleet_job.h"

namespace gantry::runner {

struct AgentOptions {
  std::string db_url;
  FleetAgentSettings settings;
  unsigned jobs = 1;                // jobs this agent runs at once
  std::vector<std::string> labels;  // what runs_on may ask for
  std::int64_t lease_ms = 30'000;
  std::int64_t poll_ms = 500;       // idle: how often to look for work
  bool exit_when_idle = false;      // --exit-when-idle: stop once the queue has nothing for it (benchmarks)
};

// Runs until `stop` (or, with exit_when_idle, until the queue is empty for
// it); an error when the database cannot be reached at start.
Status run_agent(cache::Store& store, AgentOptions options, std::stop_token stop);

}  // namespace gantry::runner
