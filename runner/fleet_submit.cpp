#include "runner/fleet_submit.h"

#include <chrono>
#include <set>

#include "common/stop_sleep.h"
#include "pgstore/pg_conn.h"
#include "pgstore/pg_logs.h"
#include "runner/fleet_plan.h"
#include "runner/project_policy.h"
#include "runner/run_context.h"
#include "runner/run_lifecycle.h"
#include "runner/run_session.h"

namespace gantry::runner {

namespace {

constexpr std::int64_t kFollowMs = 200;
constexpr std::int64_t kNoAgentNoticeMs = 10'000;

bool ended(const std::string& state) { return state == "passed" || state == "failed" || state == "skipped"; }

// Shows each job's changes as the local run's view shows stages.
class Follower {
 public:
  Follower(const pipeline::Pipeline& pipeline, Reporter& reporter, pgstore::PgLogs& logs, std::string run_id)
      : pipeline_(pipeline), reporter_(reporter), logs_(logs), run_id_(std::move(run_id)) {}

  // Reports what changed since the last call; true once any job was claimed.
  bool show(const std::vector<pgstore::JobState>& jobs) {
    for (const auto& j : jobs) {
      auto& seen = seen_[j.name];
      const std::string now = j.state + "/" + std::to_string(j.attempts);
      const bool changed = seen != now;
      seen = now;
      if (j.attempts > 0) claimed_ = true;
      auto job = FleetJob::parse(j.name, j.payload);
      if (!job) continue;
      // A stage's state, with its log lines in between: running, lines, end.
      if (changed && !ended(j.state)) show_state(j, *job);
      if (job->kind == FleetJobKind::stage && j.attempts > 0) show_log(j, job->target);
      if (changed && ended(j.state)) show_state(j, *job);
    }
    return claimed_;
  }

 private:
  static std::string attempt(const pgstore::JobState& j) {
    return j.attempts > 1 ? ", attempt " + std::to_string(j.attempts) : "";
  }

  void show_state(const pgstore::JobState& j, const FleetJob& job) {
    if (job.kind != FleetJobKind::stage) {
      if (j.state == "claimed") reporter_.note(j.name + ": on agent " + j.agent + attempt(j));
      else if (ended(j.state)) reporter_.note(j.name + ": " + j.state + (j.result.empty() ? "" : " (" + j.result + ")"));
      return;
    }
    const std::string& name = job.target;
    const auto* stage = pipeline_.find_stage(name);
    const TaskId id{stage ? stage->environment : "", name};
    if (j.state == "claimed") reporter_.task(id, TaskState::running, {}, "agent " + j.agent + attempt(j));
    else if (j.state == "passed") reporter_.task(id, TaskState::passed, {}, "agent " + j.agent);
    else if (j.state == "failed") reporter_.task(id, TaskState::failed, {}, "agent " + j.agent + ": " + j.result);
    else if (j.state == "skipped") reporter_.task(id, TaskState::skipped, {}, j.result);
    else if (j.state == "queued") reporter_.task(id, TaskState::queued, {});
  }

  // The lines the agent shipped since the last look (pgstore/pg_logs.h).
  void show_log(const pgstore::JobState& j, const std::string& name) {
    auto& log = logs_seen_[j.name];
    if (log.done) return;
    if (log.attempt != j.attempts) log = {.attempt = j.attempts};
    auto chunks = logs_.chunks(run_id_, name, j.attempts, log.seq);
    if (!chunks) return;  // shown at the next look
    const auto* stage = pipeline_.find_stage(name);
    const TaskId id{stage ? stage->environment : "", name};
    for (const auto& c : *chunks) {
      log.seq = c.seq;
      log.partial += c.bytes;
      for (std::size_t nl; (nl = log.partial.find('\n')) != std::string::npos; log.partial.erase(0, nl + 1))
        reporter_.output(id, std::string_view(log.partial).substr(0, nl));
    }
    if (ended(j.state)) {
      if (!log.partial.empty()) reporter_.output(id, log.partial);
      log.done = true;
    }
  }

  struct LogSeen {
    int attempt = 0;
    int seq = -1;
    std::string partial;  // a line not ended yet
    bool done = false;
  };

  const pipeline::Pipeline& pipeline_;
  Reporter& reporter_;
  pgstore::PgLogs& logs_;
  std::string run_id_;
  std::map<std::string, std::string> seen_;
  std::map<std::string, LogSeen> logs_seen_;
  bool claimed_ = false;
};

// Shows the run's jobs `batch` (the ones this command queued) as they
// change, until the agents have ended the run (or `stop`: detached).
Result<FleetRun> follow_fleet_run(cache::Store& store, pgstore::PgQueue& queue, pgstore::PgConn& conn,
                                  const std::string& run_id, const pipeline::Pipeline& pipeline,
                                  const std::vector<pgstore::JobSpec>& batch, Reporter& reporter,
                                  std::stop_token stop) {
  const Clock& clock = store.clock();
  cache::Metadata& meta = store.metadata();
  std::set<std::string> mine;
  for (const auto& j : batch) mine.insert(j.name);
  FleetRun out;
  pgstore::PgLogs logs(conn);
  Follower follower(pipeline, reporter, logs, run_id);
  const auto started = clock.steady_now();
  bool told_no_agent = false;
  for (;;) {
    auto seen = queue.jobs(run_id);
    if (seen) {
      out.jobs = std::move(*seen);
      std::vector<pgstore::JobState> shown;
      for (const auto& j : out.jobs)
        if (mine.count(j.name)) shown.push_back(j);
      const bool claimed = follower.show(shown);
      if (!claimed && !told_no_agent && clock.since(started).count() > kNoAgentNoticeMs) {
        reporter.note("no agent has claimed a job of this run yet (gantry agents lists the fleet's agents)");
        told_no_agent = true;
      }
      const bool all_ended = std::all_of(shown.begin(), shown.end(), [](const auto& j) { return ended(j.state); });
      if (all_ended) {
        auto record = TRY(meta.find_run(run_id));
        if (record.status != cache::RunStatus::running) {
          out.record = std::move(record);
          return out;
        }
      }
    } else {
      reporter.note("warning: reading the queue: " + seen.error().message());
    }
    if (stop.stop_requested()) {
      reporter.note("stopped following run " + run_id + "; it goes on on the fleet (gantry show " + run_id + ")");
      out.record = TRY(meta.find_run(run_id));
      out.detached = true;
      return out;
    }
    sleep_unless_stopped(stop, std::chrono::milliseconds(kFollowMs));
  }
}

}  // namespace

Result<FleetRun> submit_fleet_run(cache::Store& store, const std::string& db_url, const RunOptions& options,
                                  Reporter& reporter, std::stop_token stop) {
  const Clock& clock = store.clock();
  auto repo = TRY(pipeline::GitRepo::open(options.repo, git_mirror_root(store)));
  auto commit = TRY(repo.resolve(options.rev));
  auto access = project_access(options.runner_config, repo.location(), repo.remote_url());
  // The images are the agents' to pin and pull: only the file is checked here.
  auto pipeline = TRY(load_checked_pipeline(store, repo, commit, options.file, access, &reporter, false));
  const std::string project = TRY(run_project(store, pipeline, repo, access, reporter));
  auto conn = TRY_CTX(pgstore::PgConn::connect(db_url), "the fleet's queue");
  pgstore::PgQueue queue(*conn);

  cache::RunRecord run = new_run_record(options, repo, commit, pipeline, project, clock.now_ms());
  cache::Metadata& meta = store.metadata();
  TRY(meta.create_run(run));
  {
    RunContext ctx{.store = store, .repo = repo, .commit = commit, .pipeline = pipeline, .reporter = reporter};
    ctx.run_id = run.id;
    TRY(record_pending_stages(ctx));
  }
  auto jobs = plan_fleet_jobs(pipeline, run.id);
  if (auto st = queue.enqueue(jobs); !st) {
    (void)meta.set_run_status(run.id, cache::RunStatus::failed, "", "queueing its jobs: " + st.error().message(), true);
    return fail(std::move(st).error().context("run " + run.id));
  }
  reporter.note("run " + run.id + ": " + run.repo + " at " + commit.short_id + " (" + commit.summary + "), " +
                std::to_string(jobs.size()) + " jobs queued on the fleet");

  return follow_fleet_run(store, queue, *conn, run.id, pipeline, jobs, reporter, stop);
}

Result<cache::RunRecord> promote_on_fleet(cache::Store& store, const std::string& db_url, cache::RunRecord run,
                                          pipeline::GitRepo& repo, const pipeline::Commit& commit,
                                          const pipeline::Pipeline& pipeline, std::size_t index, Reporter& reporter,
                                          std::stop_token stop) {
  auto conn = TRY_CTX(pgstore::PgConn::connect(db_url), "the fleet's queue");
  pgstore::PgQueue queue(*conn);
  cache::Metadata& meta = store.metadata();
  const std::string& env = pipeline.environments[index].name;
  TRY(meta.record_gate(run.id, {.environment = env, .how = cache::GateOutcome::promoted, .detail = "gantry promote"}));
  TRY(meta.set_run_status(run.id, cache::RunStatus::running, "", "", false));
  {
    RunContext ctx{.store = store, .repo = repo, .commit = commit, .pipeline = pipeline, .reporter = reporter};
    ctx.run_id = run.id;
    TRY(record_pending_stages(ctx, index));
  }
  auto jobs = plan_fleet_jobs(pipeline, run.id, index);
  if (auto st = queue.enqueue(jobs); !st) {
    (void)meta.set_run_status(run.id, cache::RunStatus::failed, "", "queueing its jobs: " + st.error().message(), true);
    return fail(std::move(st).error().context("run " + run.id));
  }
  reporter.note("run " + run.id + ": the manual gate of " + env + " opened, " + std::to_string(jobs.size()) +
                " jobs queued on the fleet");
  auto followed = TRY(follow_fleet_run(store, queue, *conn, run.id, pipeline, jobs, reporter, stop));
  return followed.record;
}

nlohmann::json fleet_run_json(nlohmann::json record, const std::vector<pgstore::JobState>& jobs) {
  nlohmann::json list = nlohmann::json::array();
  std::map<std::string, const pgstore::JobState*> by_stage;
  for (const auto& j : jobs) {
    list.push_back({{"name", j.name}, {"state", j.state}, {"agent", j.agent}, {"attempts", j.attempts},
                    {"result", j.result}});
    if (auto job = FleetJob::parse(j.name, j.payload); job && job->kind == FleetJobKind::stage)
      by_stage[job->target] = &j;
  }
  if (record.contains("stages") && record["stages"].is_array())
    for (auto& stage : record["stages"]) {
      auto it = by_stage.find(stage.value("name", ""));
      stage["agent"] = it == by_stage.end() ? "" : it->second->agent;
      stage["queue_attempts"] = it == by_stage.end() ? 0 : it->second->attempts;
    }
  record["jobs"] = std::move(list);
  return record;
}

}  // namespace gantry::runner
