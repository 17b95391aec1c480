#include "runner/fleet_plan.h"

#include <nlohmann/json.hpp>

#include "runner/run_session.h"

namespace gantry::runner {

namespace {

const char* kind_name(FleetJobKind kind) {
  switch (kind) {
    case FleetJobKind::build: return "build";
    case FleetJobKind::stage: return "stage";
    case FleetJobKind::promote: return "promote";
  }
  return "build";
}

}  // namespace

std::string FleetJob::name() const {
  return kind == FleetJobKind::build ? "build" : std::string(kind_name(kind)) + ":" + target;
}

std::string FleetJob::payload() const { return nlohmann::json{{"kind", kind_name(kind)}, {"target", target}}.dump(); }

Result<FleetJob> FleetJob::parse(const std::string& name, const std::string& payload) {
  auto doc = nlohmann::json::parse(payload, nullptr, false);
  if (!doc.is_object() || !doc.contains("kind") || !doc["kind"].is_string())
    return fail(ErrorKind::invalid_input, "job " + name + ": its payload is not a gantry job: " + payload);
  FleetJob job;
  const std::string kind = doc["kind"].get<std::string>();
  if (kind == "build") job.kind = FleetJobKind::build;
  else if (kind == "stage") job.kind = FleetJobKind::stage;
  else if (kind == "promote") job.kind = FleetJobKind::promote;
  else return fail(ErrorKind::invalid_input, "job " + name + ": unknown kind '" + kind + "'");
  if (doc.contains("target") && doc["target"].is_string()) job.target = doc["target"].get<std::string>();
  if (job.kind != FleetJobKind::build && job.target.empty())
    return fail(ErrorKind::invalid_input, "job " + name + ": no target");
  return job;
}

std::optional<std::string> fleet_gate(const pipeline::Pipeline& pipeline, int last) {
  const std::size_t gate = next_manual_gate(pipeline, static_cast<std::size_t>(last + 1), false);
  if (gate >= pipeline.environments.size()) return std::nullopt;
  return pipeline.environments[gate].name;
}

std::vector<pgstore::JobSpec> plan_fleet_jobs(const pipeline::Pipeline& pipeline, const std::string& run_id,
                                              std::size_t first) {
  std::vector<pgstore::JobSpec> jobs;
  std::string previous;  // what the next environment waits for
  if (first == 0) {
    const FleetJob build{FleetJobKind::build, ""};
    jobs.push_back({.run_id = run_id, .name = build.name(), .payload = build.payload()});
    previous = build.name();
  }
  auto with = [](std::vector<std::string> needs, const std::string& need) {
    if (!need.empty()) needs.push_back(need);
    return needs;
  };
  const std::size_t end = next_manual_gate(pipeline, first, first > 0);
  for (std::size_t i = first; i < end; ++i) {
    const auto& env = pipeline.environments[i];
    const FleetJob promote{FleetJobKind::promote, env.name};
    pgstore::JobSpec promotion{.run_id = run_id, .name = promote.name(), .payload = promote.payload(),
                               .needs = with({}, previous)};
    for (const auto* stage : pipeline.stages_of(env.name)) {
      const FleetJob job{FleetJobKind::stage, stage->name};
      pgstore::JobSpec spec{.run_id = run_id, .name = job.name(), .payload = job.payload(), .needs = with({}, previous),
                            .labels = stage->runs_on, .max_attempts = 1 + static_cast<int>(stage->retry)};
      // A need in an environment before `first` passed before the gate.
      for (const auto& need : stage->needs)
        if (const auto* other = pipeline.find_stage(need);
            other && pipeline.environment_index(other->environment) >= static_cast<int>(first))
          spec.needs.push_back(FleetJob{FleetJobKind::stage, need}.name());
      promotion.needs.push_back(spec.name);
      jobs.push_back(std::move(spec));
    }
    previous = promotion.name;
    jobs.push_back(std::move(promotion));
  }
  return jobs;
}

}  // namespace gantry::runner
