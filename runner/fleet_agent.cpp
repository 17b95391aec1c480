#include "runner/fleet_agent.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "common/phase_trace.h"
#include "common/stop_sleep.h"
#include "pgstore/pg_conn.h"
#include "pgstore/pg_queue.h"
#include "runner/run_attest.h"

namespace gantry::runner {

namespace {

void sleep_ms(std::stop_token stop, std::int64_t ms) {
  sleep_unless_stopped(std::move(stop), std::chrono::milliseconds(ms));
}

// Renews one claim every lease/3 while its job runs; a renewal the queue
// refuses (the claim was given to another agent) stops the job.
class LeaseKeeper {
 public:
  LeaseKeeper(pgstore::PgQueue& queue, const pgstore::Claim& claim, std::int64_t lease_ms, std::stop_source job)
      : thread_([&queue, claim, lease_ms, job](std::stop_token done) mutable {
          while (!done.stop_requested()) {
            sleep_ms(done, std::max<std::int64_t>(lease_ms / 3, 50));
            if (done.stop_requested()) return;
            auto st = queue.heartbeat(claim, lease_ms);
            if (st) continue;
            if (st.error().kind() == ErrorKind::conflict) {
              spdlog::warn("{}/{}: the lease was lost ({}); stopping the job", claim.run_id, claim.name,
                           st.error().message());
              job.request_stop();
              return;
            }
            // The database is away: keep trying; the lease may still hold.
            spdlog::warn("{}/{}: renewing the lease: {}", claim.run_id, claim.name, st.error().message());
          }
        }) {}

 private:
  std::jthread thread_;  // stopped and joined when the job ends
};

// Retries `op` while the database cannot be reached (io), up to `limit_ms`;
// any other outcome (ok, conflict, ...) is returned at once.
template <typename Op>
Status with_database_retries(std::int64_t limit_ms, const std::string& what, Op&& op) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
  for (;;) {
    Status st = op();
    if (st || st.error().kind() != ErrorKind::io || std::chrono::steady_clock::now() >= deadline) return st;
    spdlog::warn("{}: {} (retrying)", what, st.error().message());
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

class Agent {
 public:
  Agent(cache::Store& store, const AgentOptions& options, pgstore::PgQueue& queue, Reporter& reporter)
      : store_(store), options_(options), queue_(queue), reporter_(reporter) {}

  void work(std::stop_token stop) {
    FleetRunCache cache;  // this worker's last run
    while (!stop.stop_requested()) {
      auto claim = queue_.claim(options_.settings.name, options_.labels, options_.lease_ms);
      if (!claim) {
        spdlog::warn("agent {}: claiming a job: {}", options_.settings.name, claim.error().message());
        sleep_ms(stop, std::max<std::int64_t>(options_.poll_ms, 1000));
        continue;
      }
      if (!*claim) {
        if (options_.exit_when_idle && idle()) return;
        sleep_ms(stop, options_.poll_ms);
        continue;
      }
      run_claim(**claim, cache);
    }
  }

 private:
  // Nothing left that could become claimable (--exit-when-idle).
  bool idle() {
    auto n = queue_.unfinished();
    return n && *n == 0;
  }

  void run_claim(const pgstore::Claim& claim, FleetRunCache& cache) {
    trace::phase("job_claimed");
    const std::string what = claim.run_id + "/" + claim.name;
    reporter_.note("agent " + options_.settings.name + ": " + what + " (attempt " + std::to_string(claim.attempt) +
                   ")");
    std::stop_source job_stop;
    FleetJobResult result;
    {
      LeaseKeeper keeper(queue_, claim, options_.lease_ms, job_stop);
      result = run_fleet_job(store_, claim, options_.settings, reporter_, job_stop.get_token(), cache);
    }
    trace::phase("job_ran");
    // A result is reported even after a lost lease: the queue refuses it.
    auto st = with_database_retries(options_.lease_ms * 4, "reporting " + what,
                                    [&] { return queue_.finish(claim, result.passed, result.detail); });
    if (!st) {
      reporter_.note("agent " + options_.settings.name + ": " + what + ": result not recorded: " +
                     st.error().message());
      return;
    }
    reporter_.note("agent " + options_.settings.name + ": " + what + " " + (result.passed ? "passed" : "failed") +
                   (result.passed ? "" : ": " + result.detail));
    trace::phase("job_reported");
    auto settled = with_database_retries(options_.lease_ms * 4, "settling run " + claim.run_id, [&] {
      return settle_fleet_run(store_, queue_, claim.run_id, options_.settings, reporter_, cache);
    });
    if (!settled) reporter_.note("warning: settling run " + claim.run_id + ": " + settled.error().message());
    trace::phase("job_settled");
  }

  cache::Store& store_;
  const AgentOptions& options_;
  pgstore::PgQueue& queue_;
  Reporter& reporter_;
};

}  // namespace

Status run_agent(cache::Store& store, AgentOptions options, std::stop_token stop) {
  options.settings.key = TRY(load_signing_key(options.settings.signing_key, options.settings.runner_config));
  auto conn = TRY_CTX(pgstore::PgConn::connect(options.db_url), "agent " + options.settings.name);
  pgstore::PgQueue queue(*conn);
  TRY(queue.agent_heartbeat(options.settings.name, options.labels));
  auto reporter = make_plain_reporter();
  reporter->note("agent " + options.settings.name + " ready: " + std::to_string(options.jobs) + " job(s) at once" +
                 (options.labels.empty() ? std::string() : ", labels " + [&] {
                   std::string s;
                   for (const auto& l : options.labels) s += (s.empty() ? "" : ",") + l;
                   return s;
                 }()) +
                 ", images through " + options.settings.registry);
  Agent agent(store, options, queue, *reporter);
  const unsigned n = std::max(1u, options.jobs);
  std::atomic<unsigned> running{n};
  std::stop_source all_done;
  std::vector<std::jthread> workers;
  for (unsigned i = 0; i < n; ++i)
    workers.emplace_back([&] {
      agent.work(stop);
      if (--running == 0) all_done.request_stop();
    });
  // The agent's own heartbeat, for `gantry agents`, until every worker is done.
  while (!all_done.stop_requested()) {
    if (auto st = queue.agent_heartbeat(options.settings.name, options.labels); !st)
      spdlog::warn("agent {}: heartbeat: {}", options.settings.name, st.error().message());
    sleep_ms(all_done.get_token(), std::clamp<std::int64_t>(options.lease_ms / 3, 100, 5000));
  }
  workers.clear();
  reporter->note("agent " + options.settings.name + " stopped");
  reporter->finish();
  return {};
}

}  // namespace gantry::runner
