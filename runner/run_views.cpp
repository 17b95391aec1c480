#include "runner/run_views.h"

#include "runner/stage_services.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/metadata.h"
#include "cache/image_store.h"
#include "common/file_util.h"
#include "pgstore/pg_logs.h"
#include "pgstore/pg_metadata.h"
#include "runner/run_pipeline.h"

namespace gantry::runner {

namespace {

// Prints rows as left-aligned columns.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string short_digest(const std::string& d) { return d.size() > 19 ? d.substr(0, 19) : d; }
std::string short_commit(const std::string& c) { return c.substr(0, 12); }

const cache::BuildStepRecord* failed_build_step(const cache::RunRecord& run) {
  for (const auto& step : run.build_steps)
    if (step.status == cache::StepStatus::failed) return &step;
  return nullptr;
}

std::string stage_summary(const cache::RunRecord& run) {
  if (const auto* step = failed_build_step(run))
    return "build failed: " + step->image + " step #" + std::to_string(step->index) + " (" + step->step + ")";
  int passed = 0, cached = 0, failed = 0, skipped = 0, interrupted = 0, cancelled = 0, to_do = 0;
  for (const auto& s : run.stages) {
    switch (s.status) {
      case cache::StageStatus::passed: (s.cached ? cached : passed)++; break;
      case cache::StageStatus::failed: failed++; break;
      case cache::StageStatus::interrupted: interrupted++; break;
      case cache::StageStatus::cancelled: cancelled++; break;  // by a newer run of the branch (interruptible:)
      case cache::StageStatus::pending:
      case cache::StageStatus::running: to_do++; break;
      case cache::StageStatus::skipped: skipped++; break;
    }
  }
  std::string out = std::to_string(passed) + " passed, " + std::to_string(cached) + " cached";
  if (failed) out += ", " + std::to_string(failed) + " failed";
  if (skipped) out += ", " + std::to_string(skipped) + " skipped";
  if (interrupted) out += ", " + std::to_string(interrupted) + " interrupted";
  if (cancelled) out += ", " + std::to_string(cancelled) + " cancelled";
  if (to_do) out += ", " + std::to_string(to_do) + " to do";
  return out;
}

}  // namespace

Status print_environments(cache::Store& store, const std::string& project, const std::string& image, bool json,
                          std::ostream& out) {
  cache::Metadata& meta = store.metadata();
  auto list = TRY(meta.environment_pointers(project, image));
  if (json) {
    nlohmann::json doc = nlohmann::json::array();
    for (const auto& p : list)
      doc.push_back({{"project", p.project},
                     {"image", p.image},
                     {"environment", p.environment},
                     {"digest", p.digest},
                     {"commit", p.commit},
                     {"run", p.run_id},
                     {"time", cache::format_time_utc(p.time_ms)},
                     {"previous_digest", p.previous_digest}});
    out << doc.dump(2) << "\n";
    return {};
  }
  if (list.empty()) {
    out << "no image has been promoted" << (image.empty() ? "" : " (" + image + ")") << "\n";
    return {};
  }
  if (!project.empty()) out << "project " << project << "\n";
  std::vector<std::vector<std::string>> rows = {{"IMAGE", "ENVIRONMENT", "DIGEST", "COMMIT", "RUN", "TIME"}};
  for (const auto& p : list)
    rows.push_back({p.image, p.environment, p.digest, short_commit(p.commit), p.run_id,
                    cache::format_time_utc(p.time_ms)});
  print_table(out, rows);
  return {};
}

Status print_history(cache::Store& store, const std::string& project, const std::string& image, int limit, bool json,
                     std::ostream& out) {
  cache::Metadata& meta = store.metadata();
  auto list = TRY(meta.list_runs({.project = project, .image = image, .limit = limit}));
  auto events = TRY(meta.promotion_history({.project = project, .image = image, .limit = limit}));
  if (json) {
    nlohmann::json doc = {{"project", project}, {"runs", nlohmann::json::array()}, {"promotions", nlohmann::json::array()}};
    for (const auto& run : list) doc["runs"].push_back(TRY(load_run_json(store, run)));
    for (const auto& e : events) doc["promotions"].push_back(cache::promotion_event_json(e));
    out << doc.dump(2) << "\n";
    return {};
  }
  if (!project.empty()) out << "project " << project << "\n";
  if (list.empty()) {
    out << "no runs" << (image.empty() ? "" : " of " + image) << "\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"RUN", "STARTED", "COMMIT", "STATUS", "STAGES"}};
    for (const auto& run : list) {
      std::string status(to_string(run.status));
      if (run.status == cache::RunStatus::waiting) status += " (" + run.waiting_environment + ")";
      rows.push_back({run.id, cache::format_time_utc(run.started_ms), short_commit(run.commit), status,
                      stage_summary(run)});
    }
    print_table(out, rows);
  }
  if (!events.empty()) {
    out << "\n";
    std::vector<std::vector<std::string>> rows = {{"TIME", "EVENT", "IMAGE", "ENVIRONMENT", "DIGEST", "FROM", "RUN"}};
    for (const auto& e : events)
      rows.push_back({cache::format_time_utc(e.time_ms), std::string(to_string(e.kind)), e.image, e.environment,
                      short_digest(e.digest),
                      e.replaced_digest.empty() ? "-" : short_digest(e.replaced_digest), e.run_id.empty() ? "-" : e.run_id});
    print_table(out, rows);
    // Why each refused promotion was refused (it moved no pointer).
    for (const auto& e : events)
      if (e.kind == cache::PromotionKind::refused)
        out << "refused  " << cache::format_time_utc(e.time_ms) << " " << e.image << " to " << e.environment << ": "
            << e.reason << "\n";
  }
  return {};
}

Status print_run(cache::Store& store, const std::string& run_id, bool json, std::ostream& out) {
  cache::Metadata& meta = store.metadata();
  auto run = TRY(meta.find_run(run_id));
  auto doc = TRY(load_run_json(store, run));
  if (json) {
    out << doc.dump(2) << "\n";
    return {};
  }
  out << "run      " << run.id << "\n"
      << "status   " << run.status << (run.waiting_environment.empty() ? "" : " at " + run.waiting_environment)
      << "\n"
      << "repo     " << run.repo << (run.repo_url.empty() || run.repo_url == run.repo ? "" : " (" + run.repo_url + ")")
      << "\n"
      << "commit   " << run.commit << " (" << run.rev << ")\n"
      << "pipeline " << run.pipeline_file << " " << run.pipeline_digest << "\n"
      << "started  " << cache::format_time_utc(run.started_ms) << "\n";
  if (!run.retry_of.empty()) out << "retry of " << run.retry_of << "\n";
  if (!run.error.empty()) out << "error    " << run.error << "\n";
  for (const auto& i : run.images) out << "image    " << i.image << " " << i.digest << (i.built ? "" : " (store)") << "\n";
  if (const auto* step = failed_build_step(run))
    out << "failed   image " << step->image << ", step #" << step->index << " (" << step->step << "): " << step->detail
        << (step->log_path.empty() ? "" : "\n         log: gantry logs " + run.id + " " + step->image) << "\n";
  out << "\n";
  if (!run.build_steps.empty()) {
    std::vector<std::vector<std::string>> steps = {{"IMAGE", "STEP", "STATUS", "SECONDS", "DETAIL"}};
    for (const auto& b : run.build_steps) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.2f", static_cast<double>(b.duration_ms) / 1000.0);
      steps.push_back({b.image, "#" + std::to_string(b.index) + " " + b.step,
                       b.cached ? "cached" : std::string(to_string(b.status)), secs,
                       b.status == cache::StepStatus::failed ? b.detail : ""});
    }
    print_table(out, steps);
    out << "\n";
  }
  std::vector<std::vector<std::string>> rows = {{"STAGE", "ENVIRONMENT", "STATUS", "EXIT", "SECONDS", "DETAIL"}};
  for (const auto& s : run.stages) {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.2f", static_cast<double>(s.duration_ms) / 1000.0);
    rows.push_back({s.stage, s.environment, s.cached ? "cached" : std::string(to_string(s.status)),
                    s.exit_code >= 0 ? std::to_string(s.exit_code) : "-", secs, s.detail});
  }
  print_table(out, rows);
  for (const auto& g : run.gates) out << "gate     " << g.environment << ": " << g.how << " (" << g.detail << ")\n";
  if (!doc["promotions"].empty()) {
    out << "\n";
    for (const auto& p : doc["promotions"])
      out << "promoted " << p["image"].get<std::string>() << " " << p["digest"].get<std::string>() << " to "
          << p["environment"].get<std::string>() << " at " << p["time"].get<std::string>() << "\n";
  }
  return {};
}

namespace {

// A stage's log as an agent shipped it into PostgreSQL (pgstore/pg_logs.h);
// nullopt with meta.db, or when none was shipped.
std::optional<std::string> shipped_log(cache::Store& store, const std::string& run_id, const std::string& stage) {
  auto* pg = dynamic_cast<pgstore::PgMetadata*>(&store.metadata());
  if (pg == nullptr) return std::nullopt;
  auto text = pgstore::PgLogs(pg->connection()).log(run_id, stage);
  if (!text) return std::nullopt;
  return *text;
}

}  // namespace

Status print_logs(cache::Store& store, const std::string& run_id, const std::string& stage, std::ostream& out,
                  const std::string& service) {
  cache::Metadata& meta = store.metadata();
  auto run = TRY(meta.find_run(run_id));
  if (!service.empty()) {
    if (stage.empty()) return fail(ErrorKind::usage, "--service needs the STAGE it belongs to");
    for (const auto& s : run.stages) {
      if (s.stage != stage) continue;
      if (s.log_path.empty()) return fail(ErrorKind::not_found, "stage " + stage + " has no log (" + s.detail + ")");
      if (s.cached) out << "(cached: the log of run " << s.cached_from << ")\n";
      auto text = read_file(service_log_path(s.log_path, service));
      if (!text)
        return fail(ErrorKind::not_found, "no log of service " + service + " in stage " + stage + " of run " + run.id);
      out << *text;
      return {};
    }
    return fail(ErrorKind::not_found, "no stage " + stage + " in run " + run.id);
  }
  bool found = false;
  // The build steps' logs first (all, or one image's when `stage` names an
  // image and no stage), then the stages'.
  const bool is_stage = std::any_of(run.stages.begin(), run.stages.end(), [&](const auto& s) { return s.stage == stage; });
  for (const auto& b : run.build_steps) {
    if (!stage.empty() && (is_stage || b.image != stage)) continue;
    found = true;
    out << "== build " << b.image << " #" << b.index << " " << b.step << " ("
        << (b.cached ? "cached" : to_string(b.status)) << ") ==\n";
    if (b.log_path.empty()) {
      out << "(no log: " << (b.cached ? "cached, nothing ran" : b.kind + " steps run no command") << ")\n";
      continue;
    }
    auto text = read_file(b.log_path);
    if (!text) out << "(log unavailable: " << text.error().message() << ")\n";
    else out << *text;
  }
  for (const auto& s : run.stages) {
    if (!stage.empty() && s.stage != stage) continue;
    found = true;
    if (stage.empty()) out << "== " << s.stage << " (" << (s.cached ? "cached" : to_string(s.status)) << ") ==\n";
    if (s.cached) out << "(cached: the log of run " << s.cached_from << ")\n";
    if (s.log_path.empty() || s.status == cache::StageStatus::skipped) {
      out << "(no log: " << s.detail << ")\n";
      continue;
    }
    auto text = read_file(s.log_path);
    if (!text) {
      // Run by a fleet agent: its log was shipped into the shared record.
      if (auto shipped = shipped_log(store, s.cached ? s.cached_from : run.id, s.stage)) {
        out << *shipped;
        continue;
      }
      out << "(log unavailable: " << text.error().message() << ")\n";
      continue;
    }
    out << *text;
  }
  if (!found && !stage.empty()) {
    std::string known;
    for (const auto& s : run.stages) known += (known.empty() ? "" : ", ") + s.stage;
    std::string images;
    std::set<std::string> seen;
    for (const auto& b : run.build_steps)
      if (seen.insert(b.image).second) images += (images.empty() ? "" : ", ") + b.image;
    return fail(ErrorKind::not_found, "run " + run.id + " has no stage or built image '" + stage +
                                          "' (stages: " + (known.empty() ? "none" : known) +
                                          "; images: " + (images.empty() ? "none" : images) + ")");
  }
  return {};
}

}  // namespace gantry::runner
