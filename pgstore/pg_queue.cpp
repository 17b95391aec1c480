// PgQueue (pg_queue.h): the job queue's transitions, each one transaction.
#include "pgstore/pg_queue.h"

#include <set>

// The database's clock in unix milliseconds: every host agrees on it.
#define GANTRY_PG_NOW "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

namespace gantry::pgstore {

namespace {

// Serializes the transitions of one run's jobs: two jobs finishing at once
// must not each miss the other's result when deciding what is claimable next.
Status lock_run(PgConn& conn, const std::string& run_id) {
  TRY_CTX(conn.exec("SELECT pg_advisory_xact_lock(hashtextextended('gantry-run' || chr(31) || $1, 23))", {run_id}),
          "locking the jobs of run " + run_id);
  return {};
}

// Inside the run's lock, after `finished` passed: the waiting jobs that need
// it and now have all their needs passed are queued.
Status queue_dependents(PgConn& conn, const std::string& run_id, const std::string& finished) {
  TRY(conn.exec("UPDATE jobs w SET state = 'queued', queued_ms = " GANTRY_PG_NOW
                " WHERE w.run_id = $1 AND w.state = 'waiting' AND $2 = ANY(w.needs)"
                " AND NOT EXISTS (SELECT 1 FROM unnest(w.needs) AS n(name) WHERE NOT EXISTS (SELECT 1 FROM jobs d"
                "   WHERE d.run_id = w.run_id AND d.name = n.name AND d.state = 'passed'))",
                {run_id, finished}));
  return {};
}

// Inside the run's lock: waiting jobs that need one that did not pass are
// skipped (transitively), those whose needs all passed are queued.
Status advance_run(PgConn& conn, const std::string& run_id) {
  for (;;) {
    auto skipped = TRY(conn.exec(
        "UPDATE jobs w SET state = 'skipped', finished_ms = " GANTRY_PG_NOW ","
        " result = 'needs ' || (SELECT string_agg(d.name || ' (' || d.state || ')', ', ' ORDER BY d.id) FROM jobs d"
        "   WHERE d.run_id = w.run_id AND d.name = ANY(w.needs) AND d.state IN ('failed', 'skipped'))"
        " WHERE w.run_id = $1 AND w.state = 'waiting' AND EXISTS (SELECT 1 FROM jobs d WHERE d.run_id = w.run_id"
        "   AND d.name = ANY(w.needs) AND d.state IN ('failed', 'skipped'))",
        {run_id}));
    if (skipped.affected() == 0) break;
  }
  TRY(conn.exec("UPDATE jobs w SET state = 'queued', queued_ms = " GANTRY_PG_NOW
                " WHERE w.run_id = $1 AND w.state = 'waiting' AND NOT EXISTS (SELECT 1 FROM unnest(w.needs) AS n(name)"
                "   WHERE NOT EXISTS (SELECT 1 FROM jobs d WHERE d.run_id = w.run_id AND d.name = n.name"
                "     AND d.state = 'passed'))",
                {run_id}));
  return {};
}


}  // namespace

std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

Status PgQueue::enqueue(const std::vector<JobSpec>& jobs) {
  std::set<std::pair<std::string, std::string>> names;
  for (const auto& j : jobs) names.insert({j.run_id, j.name});
  for (const auto& j : jobs)
    for (const auto& need : j.needs)
      if (!names.contains({j.run_id, need}))
        return fail(ErrorKind::invalid_input,
                    "job " + j.name + " of run " + j.run_id + " needs " + need + ", which is not a job of the run");
  return conn_.transaction([&]() -> Status {
    for (const auto& j : jobs)
      TRY_CTX(conn_.exec("INSERT INTO jobs (run_id, name, payload, needs, labels, state, max_attempts, queued_ms)"
                         " VALUES ($1, $2, $3, $4::text[], $5::text[], $6, $7, " GANTRY_PG_NOW ")",
                         {j.run_id, j.name, j.payload, text_array(j.needs), text_array(j.labels),
                          j.needs.empty() ? "queued" : "waiting", j.max_attempts}),
              "queueing job " + j.name + " of run " + j.run_id);
    return {};
  });
}

Result<int> PgQueue::expire_leases() {
  auto expired = TRY_CTX(conn_.exec("UPDATE jobs SET state = CASE WHEN attempts < max_attempts THEN 'queued'"
                                    " ELSE 'failed' END, result = 'the lease of agent ' || agent || ' expired"
                                    " (attempt ' || attempts || ')', lease_until_ms = 0"
                                    " WHERE state = 'claimed' AND lease_until_ms < " GANTRY_PG_NOW
                                    " RETURNING run_id, state"),
                         "requeueing the jobs whose lease expired");
  // A job that used its attempts failed: what needs it is skipped.
  std::set<std::string> failed_runs;
  for (int i = 0; i < expired.size(); ++i)
    if (expired.text(i, 1) == "failed") failed_runs.insert(expired.text(i, 0));
  for (const auto& run_id : failed_runs)
    TRY(conn_.transaction([&]() -> Status {
      TRY(lock_run(conn_, run_id));
      return advance_run(conn_, run_id);
    }));
  return expired.size();
}

Result<std::optional<Claim>> PgQueue::claim(const std::string& agent, const std::vector<std::string>& labels,
                                            std::int64_t lease_ms) {
  TRY(expire_leases());
  // One statement: the row SKIP LOCKED picks is the row it updates.
  auto rows = TRY_CTX(
      conn_.exec("UPDATE jobs SET state = 'claimed', agent = $1, token = nextval('job_tokens'),"
                 " attempts = attempts + 1, claimed_ms = " GANTRY_PG_NOW ", lease_until_ms = " GANTRY_PG_NOW " + $3"
                 " WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND labels <@ $2::text[]"
                 "   ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                 " RETURNING id, run_id, name, payload, token, attempts",
                 {agent, text_array(labels), lease_ms}),
      "claiming a job for agent " + agent);
  if (rows.empty()) return std::optional<Claim>();
  return std::optional<Claim>(Claim{.job_id = rows.int64(0, 0),
                                    .run_id = rows.text(0, 1),
                                    .name = rows.text(0, 2),
                                    .payload = rows.text(0, 3),
                                    .token = rows.int64(0, 4),
                                    .attempt = static_cast<int>(rows.int64(0, 5))});
}

namespace {

Error stale(const Claim& c) {
  return Error(ErrorKind::conflict, "job " + c.name + " of run " + c.run_id + ": claim " + std::to_string(c.token) +
                                        " is no longer current (its lease expired and the job was queued again, or "
                                        "it finished): its result is refused");
}

}  // namespace

Status PgQueue::heartbeat(const Claim& c, std::int64_t lease_ms) {
  auto rows = TRY(conn_.exec("UPDATE jobs SET lease_until_ms = " GANTRY_PG_NOW " + $3"
                             " WHERE id = $1 AND token = $2 AND state = 'claimed'",
                             {c.job_id, c.token, lease_ms}));
  if (rows.affected() == 0) return fail(stale(c));
  return {};
}

Status PgQueue::finish(const Claim& c, bool passed, const std::string& result) {
  return conn_.transaction([&]() -> Status {
    TRY(lock_run(conn_, c.run_id));
    auto rows = TRY(conn_.exec("UPDATE jobs SET state = $3, result = $4, finished_ms = " GANTRY_PG_NOW ","
                               " lease_until_ms = 0 WHERE id = $1 AND token = $2 AND state = 'claimed'",
                               {c.job_id, c.token, passed ? "passed" : "failed", result}));
    if (rows.affected() == 0) return fail(stale(c));
    return passed ? queue_dependents(conn_, c.run_id, c.name) : advance_run(conn_, c.run_id);
  });
}

Result<std::vector<JobState>> PgQueue::jobs(const std::string& run_id) {
  auto rows = TRY(conn_.exec(
      "SELECT id, name, state, agent, attempts, token, result, payload, claimed_ms, finished_ms FROM jobs"
      " WHERE run_id = $1 ORDER BY id",
      {run_id}));
  std::vector<JobState> out;
  for (int i = 0; i < rows.size(); ++i)
    out.push_back({rows.int64(i, 0), rows.text(i, 1), rows.text(i, 2), rows.text(i, 3),
                   static_cast<int>(rows.int64(i, 4)), rows.int64(i, 5), rows.text(i, 6), rows.text(i, 7),
                   rows.int64(i, 8), rows.int64(i, 9)});
  return out;
}

Result<std::int64_t> PgQueue::unfinished() {
  auto rows = TRY(conn_.exec("SELECT count(*) FROM jobs WHERE state IN ('waiting', 'queued', 'claimed')"));
  return rows.int64(0, 0);
}

Status PgQueue::agent_heartbeat(const std::string& agent, const std::vector<std::string>& labels) {
  TRY_CTX(conn_.exec("INSERT INTO agents (name, labels, heartbeat_ms, started_ms)"
                     " VALUES ($1, $2::text[], " GANTRY_PG_NOW ", " GANTRY_PG_NOW ")"
                     " ON CONFLICT (name) DO UPDATE SET labels = excluded.labels, heartbeat_ms = excluded.heartbeat_ms",
                     {agent, text_array(labels)}),
          "recording the heartbeat of agent " + agent);
  return {};
}

Result<std::vector<AgentInfo>> PgQueue::agents() {
  auto rows = TRY(conn_.exec(
      "SELECT a.name, array_to_string(a.labels, ','), a.heartbeat_ms, COALESCE((SELECT string_agg(j.run_id || '/' ||"
      " j.name, ',' ORDER BY j.id) FROM jobs j WHERE j.agent = a.name AND j.state = 'claimed'), '')"
      " FROM agents a ORDER BY a.name"));
  std::vector<AgentInfo> out;
  for (int i = 0; i < rows.size(); ++i)
    out.push_back({rows.text(i, 0), split_commas(rows.text(i, 1)), rows.int64(i, 2), split_commas(rows.text(i, 3))});
  return out;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    std::size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace gantry::pgstore
