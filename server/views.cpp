#include "server/views.h"

namespace gantry::server {

namespace {
nlohmann::json time_or_null(std::int64_t ms) {
  return ms ? nlohmann::json(cache::format_time_utc(ms)) : nlohmann::json();
}
}  // namespace

nlohmann::json summary_json(const cache::RunSummary& r) {
  return {{"id", r.id},
          {"status", r.status},
          {"project", r.project},
          {"repo", r.repo},
          {"rev", r.rev},
          {"branch", r.branch},
          {"commit", r.commit},
          {"subject", r.subject},
          {"source", r.source},
          {"error", r.error},
          {"waiting_environment", r.waiting_environment},
          {"started", time_or_null(r.started_ms)},
          {"finished", time_or_null(r.finished_ms)},
          {"seconds", r.finished_ms && r.started_ms ? nlohmann::json(static_cast<double>(r.finished_ms - r.started_ms) / 1000.0)
                                                    : nlohmann::json()}};
}

cache::RunSummary summary_of(const cache::RunRecord& run, const cache::QueueEntry* entry) {
  cache::RunSummary s;
  s.id = run.id;
  s.status = std::string(to_string(run.status));
  s.project = run.project;
  s.repo = run.repo;
  s.rev = run.rev;
  s.commit = run.commit;
  s.error = run.error;
  s.waiting_environment = run.waiting_environment;
  s.started_ms = run.started_ms;
  s.finished_ms = run.finished_ms;
  if (entry) {
    s.branch = entry->branch;
    s.subject = entry->subject;
    s.source = entry->source;
  }
  return s;
}

cache::RunSummary summary_of(const cache::QueueEntry& e) {
  cache::RunSummary s;
  s.id = e.id;
  s.error = e.error;
  s.status = cache::queue_entry_status(e.state, e.error);
  s.project = e.project.empty() ? e.repo_name : e.project;
  s.repo = e.repo;
  s.rev = e.rev;
  s.branch = e.branch;
  s.commit = e.commit;
  s.subject = e.subject;
  s.source = e.source;
  s.started_ms = e.requested_ms;
  s.finished_ms = e.finished_ms;
  return s;
}

nlohmann::json stage_event_json(const cache::StageResult& s) {
  return {{"run", s.run_id},
          {"stage", s.stage},
          {"environment", s.environment},
          {"status", s.status},
          {"cached", s.cached},
          {"seconds", static_cast<double>(s.duration_ms) / 1000.0},
          {"exit_code", s.exit_code >= 0 ? nlohmann::json(s.exit_code) : nlohmann::json()},
          {"detail", s.detail}};
}

}  // namespace gantry::server
