// The fleet's job queue on PostgreSQL (issue 17): no coordinator process,
// only transactions. A job is one stage of a run (or an image build), with
// the stages it needs and the labels an agent must have (runs_on).
//
// States: waiting (its needs are not done) -> queued -> claimed -> passed |
// failed; skipped when a need did not pass. Every transition is one
// transaction:
// - claim: `SELECT ... FOR UPDATE SKIP LOCKED` picks the oldest queued job
//   whose labels the agent has, so agents never wait on each other's claims
//   and no job is claimed twice; the claim takes a new fencing token (a
//   sequence) and a lease (until the database's clock + lease);
// - heartbeat: extends the lease of a claim that still holds its token;
// - finish: records the result only when the claim still holds its token (a
//   late result from an expired claim is refused: conflict), and in the same
//   transaction queues the waiting jobs of the run whose needs have all
//   passed, and skips those that need a job that did not;
// - expire_leases: a claim whose lease ran out (its agent died or lost the
//   database) is queued again, counted as an attempt, or failed once it used
//   its attempts. Any agent runs it before claiming: no coordinator.
// Times come from the database's clock, never a host's, so hosts whose
// clocks disagree still agree on leases.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "pgstore/pg_conn.h"

namespace gantry::pgstore {

struct JobSpec {
  std::string run_id;
  std::string name;                  // unique within the run (a stage's name)
  std::string payload;               // what the agent runs (JSON)
  std::vector<std::string> needs;    // names of jobs of the same run
  std::vector<std::string> labels;   // runs_on: the agent needs every one
  int max_attempts = 1;              // 1 + the stage's retry
};

struct Claim {
  std::int64_t job_id = 0;
  std::string run_id;
  std::string name;
  std::string payload;
  std::int64_t token = 0;  // fencing token: names this claim, no other
  int attempt = 0;         // 1 for the first claim
};

struct JobState {
  std::int64_t id = 0;
  std::string name;
  std::string state;   // waiting | queued | claimed | passed | failed | skipped
  std::string agent;   // the agent of the last claim
  int attempts = 0;
  std::int64_t token = 0;
  std::string result;  // the agent's report, or why gantry ended it
  std::string payload;
  std::int64_t claimed_ms = 0;   // the last claim (the database's clock)
  std::int64_t finished_ms = 0;
};

struct AgentInfo {
  std::string name;
  std::vector<std::string> labels;
  std::int64_t heartbeat_ms = 0;  // the database's clock
  std::vector<std::string> jobs;  // "run/stage" of its current claims
};

class PgQueue {
 public:
  // Needs a migrated database (PgMetadata::connect does that).
  explicit PgQueue(PgConn& conn) : conn_(conn) {}

  // Inserts a run's jobs in one transaction: the ones without needs queued,
  // the others waiting. invalid_input for a need that names no job of the run.
  Status enqueue(const std::vector<JobSpec>& jobs);
  // The oldest queued job this agent may take (nullopt: none), claimed for
  // `lease_ms`. Expired leases are handled first (expire_leases).
  Result<std::optional<Claim>> claim(const std::string& agent, const std::vector<std::string>& labels,
                                     std::int64_t lease_ms);
  // Extends the lease; conflict when the claim is not current any more.
  Status heartbeat(const Claim& claim, std::int64_t lease_ms);
  // Records the result (passed or failed) and moves the run's waiting jobs on;
  // conflict, changing nothing, when the claim is not current any more.
  Status finish(const Claim& claim, bool passed, const std::string& result);
  // Requeues (or fails, after max_attempts) every claim past its lease;
  // returns how many.
  Result<int> expire_leases();

  Result<std::vector<JobState>> jobs(const std::string& run_id);
  // Jobs of any run not ended yet (waiting, queued or claimed).
  Result<std::int64_t> unfinished();
  // Agents announce themselves (and their labels) with every heartbeat.
  Status agent_heartbeat(const std::string& agent, const std::vector<std::string>& labels);
  Result<std::vector<AgentInfo>> agents();

 private:
  PgConn& conn_;
};

// {"a","b"} as a PostgreSQL array literal parameter: {"a","b"} with quotes
// and backslashes escaped (sent as a parameter, never spliced into SQL).
std::string text_array(const std::vector<std::string>& items);
// "a,b" -> {"a", "b"} (empty pieces left out): labels as `--labels` and
// array_to_string give them.
std::vector<std::string> split_commas(const std::string& s);

}  // namespace gantry::pgstore
