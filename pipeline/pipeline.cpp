#include "pipeline/pipeline.h"

#include <algorithm>

namespace gantry::pipeline {

std::string_view to_string(NetworkMode mode) { return mode == NetworkMode::host ? "host" : "none"; }

std::string_view to_string(StepKind kind) {
  switch (kind) {
    case StepKind::run: return "run";
    case StepKind::copy: return "copy";
    case StepKind::env: return "env";
    case StepKind::workdir: return "workdir";
    case StepKind::user: return "user";
  }
  return "?";
}

std::string_view to_string(CacheSharing sharing) {
  switch (sharing) {
    case CacheSharing::locked: return "locked";
    case CacheSharing::shared: return "shared";
    case CacheSharing::private_: return "private";
  }
  return "?";
}

std::string_view to_string(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::none: return "none";
    case ProbeKind::tcp: return "tcp";
    case ProbeKind::http: return "http";
    case ProbeKind::exec: return "exec";
    case ProbeKind::log: return "log";
  }
  return "?";
}

std::string_view to_string(Gate gate) { return gate == Gate::manual ? "manual" : "auto"; }

std::vector<std::string> Step::command() const {
  if (!argv.empty()) return argv;
  return {"/bin/sh", "-c", script};
}

std::string StageDef::script() const {
  if (run.size() == 1) return run.front();
  // Braces group in the current shell, so `cd` carries over to the next
  // command; && stops at the first failure and keeps its exit status.
  std::string out;
  for (std::size_t i = 0; i < run.size(); ++i) {
    if (i > 0) out += " && ";
    out += "{\n" + run[i] + "\n}";
  }
  return out;
}

namespace {
template <typename T>
const T* find_named(const std::vector<T>& items, std::string_view name) {
  auto it = std::find_if(items.begin(), items.end(), [&](const T& x) { return x.name == name; });
  return it == items.end() ? nullptr : &*it;
}
}  // namespace

const ImageDef* Pipeline::find_image(std::string_view name) const { return find_named(images, name); }
const StageDef* Pipeline::find_stage(std::string_view name) const { return find_named(stages, name); }
const EnvironmentDef* Pipeline::find_environment(std::string_view name) const {
  return find_named(environments, name);
}

int Pipeline::environment_index(std::string_view name) const {
  for (std::size_t i = 0; i < environments.size(); ++i)
    if (environments[i].name == name) return static_cast<int>(i);
  return -1;
}

std::vector<const StageDef*> Pipeline::stages_of(std::string_view environment) const {
  std::vector<const StageDef*> out;
  for (const auto& s : stages)
    if (s.environment == environment) out.push_back(&s);
  return out;
}

void set_env(EnvList& env, const std::string& name, const std::string& value) {
  for (auto& v : env) {
    if (v.name == name) {
      v.value = value;
      return;
    }
  }
  env.push_back({name, value});
}

BuildState initial_state(const ImageDef& image, BuildState base) {
  for (const auto& v : image.env) set_env(base.env, v.name, v.value);
  if (image.workdir) base.workdir = *image.workdir;
  if (image.user) base.user = *image.user;
  return base;
}

BuildState apply_step(BuildState state, const Step& step) {
  switch (step.kind) {
    case StepKind::env:
      for (const auto& v : step.env) set_env(state.env, v.name, v.value);
      break;
    case StepKind::workdir: state.workdir = step.value; break;
    case StepKind::user: state.user = step.value; break;
    case StepKind::run:
    case StepKind::copy: break;
  }
  return state;
}

EnvList step_env(const BuildState& state, const Step& step) {
  EnvList env = state.env;
  if (step.kind == StepKind::run)
    for (const auto& v : step.env) set_env(env, v.name, v.value);
  return env;
}

}  // namespace gantry::pipeline
