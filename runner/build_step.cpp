#include "runner/build_step.h"

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>

namespace gantry::runner {

using nlohmann::json;
using pipeline::StepKind;

namespace {

std::map<std::string, std::string> env_map(const pipeline::EnvList& env) {
  std::map<std::string, std::string> out;
  for (const auto& var : env) out[var.name] = var.value;
  return out;
}

std::string join(const std::vector<std::string>& items, const char* sep = " ") {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

}  // namespace

std::string describe_step(const pipeline::Step& step) {
  switch (step.kind) {
    case StepKind::run:
      return "run: " + one_line(step.shell_form() ? step.script : join(step.argv));
    case StepKind::copy:
      return "copy " + one_line(join(step.sources) + " " + step.dest);
    case StepKind::env: {
      std::vector<std::string> parts;
      for (const auto& var : step.env) parts.push_back(var.name + "=" + var.value);
      return "env " + one_line(join(parts));
    }
    case StepKind::workdir:
      return "workdir " + one_line(step.value);
    case StepKind::user:
      return "user " + one_line(step.value);
  }
  return "step";
}

Result<std::int64_t> build_epoch(const pipeline::Pipeline& pipeline) {
  if (pipeline.epoch) return *pipeline.epoch;
  const char* sde = std::getenv("SOURCE_DATE_EPOCH");
  if (sde == nullptr || *sde == '\0') return std::int64_t{0};
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(sde, sde + std::strlen(sde), value);
  if (ec != std::errc() || *end != '\0' || value < 0)
    return fail(ErrorKind::invalid_input, std::string("SOURCE_DATE_EPOCH: expected seconds since 1970 (e.g. "
                                                      "1700000000), got '") + sde + "'");
  return value;
}

cache::StepRecord step_record(const std::string& parent, const pipeline::Step& step,
                              const pipeline::BuildState& state,
                              const std::vector<pipeline::CopyItem>& copy_items, std::int64_t epoch) {
  cache::StepRecord r;
  r.parent = parent;
  r.epoch = epoch;
  r.kind = std::string(pipeline::to_string(step.kind));
  r.env = env_map(state.env);
  r.workdir = state.workdir;
  r.user = state.user;
  switch (step.kind) {
    case StepKind::run:
      if (step.shell_form()) r.args = {{"shell", step.script}};
      else r.args = {{"argv", step.argv}};
      r.env = env_map(pipeline::step_env(state, step));
      r.network = std::string(pipeline::to_string(step.network));
      break;
    case StepKind::copy: {
      r.args = {{"src", step.tree_sources}, {"dest", step.dest}};
      r.args["chmod"] = step.chmod ? json(*step.chmod) : json(nullptr);
      r.args["chown"] = step.chown ? json(std::to_string(step.chown->uid) + ":" + std::to_string(step.chown->gid))
                                   : json(nullptr);
      for (const auto& item : copy_items) {
        if (item.entry.path.empty() || item.entry.is_dir()) continue;  // implied by the files below
        r.sources.push_back({item.entry.path, item.entry.mode, item.entry.oid});
      }
      break;
    }
    case StepKind::env: {
      json set = json::array();
      for (const auto& var : step.env) set.push_back({var.name, var.value});
      r.args = {{"set", std::move(set)}};
      break;
    }
    case StepKind::workdir:
    case StepKind::user:
      r.args = {{"value", step.value}};
      break;
  }
  return r;
}

cache::ConfigChange config_change_of(const pipeline::Step& step, const pipeline::BuildState& before,
                                     const pipeline::BuildState& after) {
  cache::ConfigChange change;
  if (step.kind == StepKind::env)
    for (const auto& var : step.env) change.env.emplace_back(var.name, var.value);
  if (after.workdir != before.workdir || step.kind == StepKind::workdir) change.workdir = after.workdir;
  if (after.user != before.user || step.kind == StepKind::user) change.user = after.user;
  return change;
}

pipeline::BuildState apply_config_change(pipeline::BuildState state, const cache::ConfigChange& change) {
  for (const auto& [name, value] : change.env) pipeline::set_env(state.env, name, value);
  if (change.workdir) state.workdir = *change.workdir;
  if (change.user) state.user = *change.user;
  return state;
}

Result<cache::LayerDescriptor> write_copy_layer(cache::Store& store, pipeline::GitRepo& repo,
                                                const std::vector<pipeline::CopyItem>& items,
                                                const pipeline::Step& step, std::int64_t epoch) {
  auto writer = TRY(cache::LayerWriter::create(store, {.epoch = epoch}));
  const pipeline::Owner owner = step.chown.value_or(pipeline::Owner{});
  for (const auto& item : items) {
    const auto& e = item.entry;
    const std::string where = "copy " + e.path + " to /" + item.dest;
    if (e.path.empty()) {  // a parent directory of a destination
      TRY_CTX(writer->add_directory(item.dest, 0755), where);
    } else if (e.is_dir()) {
      TRY_CTX(writer->add_directory(item.dest, step.chmod.value_or(0755), owner.uid, owner.gid), where);
    } else if (e.is_symlink()) {
      std::string target = TRY_CTX(repo.read_blob(e.oid), where);
      TRY_CTX(writer->add_symlink(item.dest, target, owner.uid, owner.gid), where);
    } else if (e.mode == pipeline::kModeFile || e.mode == pipeline::kModeExecutable) {
      std::string data = TRY_CTX(repo.read_blob(e.oid), where);
      mode_t mode = step.chmod.value_or(e.mode == pipeline::kModeExecutable ? 0755 : 0644);
      TRY_CTX(writer->add_file(item.dest, mode, owner.uid, owner.gid, data), where);
    }
    // Submodules (gitlinks) have no content in this repository: skipped.
  }
  return writer->finish();
}

pipeline::BuildState state_from_config(const std::vector<std::string>& env, const std::string& workdir,
                                       const std::string& user) {
  pipeline::BuildState state;
  for (const auto& line : env) {
    auto eq = line.find('=');
    if (eq == std::string::npos) pipeline::set_env(state.env, line, "");
    else pipeline::set_env(state.env, line.substr(0, eq), line.substr(eq + 1));
  }
  state.workdir = workdir.empty() ? "/" : workdir;
  state.user = user;
  return state;
}

std::vector<std::string> env_lines(const pipeline::EnvList& env) {
  std::vector<std::string> out;
  for (const auto& var : env) out.push_back(var.name + "=" + var.value);
  return out;
}

}  // namespace gantry::runner
