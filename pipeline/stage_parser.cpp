// `stages:`: each stage a mapping; references to images, other stages and
// environments are checked here, with their positions.
#include <algorithm>
#include <cctype>

#include "common/units.h"
#include "pipeline/parse_parts.h"
#include "pipeline/path_filter.h"

namespace gantry::pipeline {

namespace {

const std::vector<std::string> kStageKeys = {"image",    "run",       "needs",   "environment", "env",
                                             "secrets",  "timeout",   "limits",  "network",     "artifacts",
                                             "cache",    "allow_failure", "retry", "workspace",  "inputs",
                                             "matrix", "services", "caches", "reports", "interruptible",
                                             "runs_on"};
const std::vector<std::string> kLimitKeys = {"memory", "pids", "cpus", "tmpfs", "disk"};

// `reports: {junit: PATH | [PATH...]}`: absolute paths in the container; the
// last component may be a glob (`/out/*.xml`), the directories before it not.
void parse_reports(YamlReader& r, const Field& f, StageDef& stage) {
  auto entries = r.map(f, {"junit"}, {"junit"});
  if (!entries) return;
  for (const auto& e : *entries) {
    auto paths = r.string_or_list(e);
    if (!paths) continue;
    for (const auto& path : *paths) {
      const auto slash = path.rfind('/');
      const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
      if (!path.starts_with('/') || slash + 1 >= path.size())
        r.error(e, "expected an absolute path of a file in the container (e.g. /out/*.xml), got '" + path + "'");
      else if (dir.find_first_of("*?[") != std::string::npos)
        r.error(e, "'" + path + "': only the file name may be a pattern, not the directories before it");
      else if (path.find("/../") != std::string::npos || path.find("/./") != std::string::npos || path.ends_with("/.."))
        r.error(e, "'" + path + "': expected a path without '.' or '..' components");
      else
        stage.junit_reports.push_back(path);
    }
  }
}

std::vector<std::string> names_of(const std::vector<EnvironmentDef>& envs) {
  std::vector<std::string> out;
  for (const auto& e : envs) out.push_back(e.name);
  return out;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string guess = closest_match(word, candidates);
  return guess.empty() ? "" : " (did you mean '" + guess + "'?)";
}

// `secrets: [NAME, ...]`. The old mapping forms (`NAME: VARIABLE`,
// `NAME: {env: V}`, `NAME: {file: PATH}`) let the repository choose a host
// file or variable: each entry is an error now, nothing is read.
void parse_secrets(YamlReader& r, const Field& f, StageDef& stage) {
  if (f.node.IsMap()) {
    auto entries = r.map(f);
    for (const auto& e : entries.value_or(std::vector<Field>{}))
      r.error(e, "a pipeline names its secrets but does not choose where their values come from (that is the "
                 "runner's configuration: `gantry secret set " + e.key + "` or the runner config's "
                 "projects.<project>.secrets); write `secrets: [" + e.key + "]`");
    return;
  }
  if (!f.node.IsSequence()) {
    r.error(f, "expected a list of secret names, got " + YamlReader::kind_name(f.node));
    return;
  }
  auto elements = r.list(f);
  for (const auto& e : elements.value_or(std::vector<Field>{})) {
    auto name = r.non_empty_string(e);
    if (!name) continue;
    if (!is_env_name(*name)) {
      r.error(e, "invalid secret name '" + *name + "': expected letters, digits and '_', not starting with a digit");
      continue;
    }
    if (std::any_of(stage.secrets.begin(), stage.secrets.end(), [&](const Secret& s) { return s.name == *name; })) {
      r.error(e, "duplicate secret '" + *name + "'");
      continue;
    }
    stage.secrets.push_back(Secret{*name, YamlReader::pos(e)});
  }
}

void parse_limits(YamlReader& r, const Field& f, Limits& limits) {
  auto entries = r.map(f, kLimitKeys);
  if (!entries) return;
  for (const auto& e : *entries) {
    auto text = r.non_empty_string(e);
    if (!text) continue;
    if (e.key == "memory" || e.key == "tmpfs" || e.key == "disk") {
      auto v = parse_byte_size(*text);
      if (!v) r.error(e, v.error().message());
      else if (e.key == "memory") limits.memory = *v;
      else if (*v < 1024 * 1024) r.error(e, "expected at least 1M");
      else (e.key == "tmpfs" ? limits.tmpfs : limits.disk) = *v;
    } else if (e.key == "pids") {
      auto v = r.count(e);
      if (v && *v == 0) r.error(e, "expected a number of processes > 0");
      else if (v) limits.pids = *v;
    } else if (e.key == "cpus") {
      auto v = parse_cpus(*text);
      if (v) limits.cpus = *v;
      else r.error(e, v.error().message());
    }
  }
}

std::vector<std::string> tree_paths(YamlReader& r, const Field& f, const std::vector<std::string>& paths,
                                    const std::string& base_dir) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    if (is_exclude(p)) {
      auto pattern = exclude_tree_pattern(base_dir, p);
      if (out.empty())
        r.error(f, "'" + p + "' excludes from nothing: an exclude (!pattern) removes what the inputs before it include; put it after them");
      else if (!pattern) r.error(f, "exclude '" + p + "' is empty or leaves the repository");
      else out.push_back(*pattern);
      continue;
    }
    if (auto t = normalize_tree_path(base_dir, p)) out.push_back(*t);
    else r.error(f, "input '" + p + "' leaves the repository");
  }
  return out;
}

}  // namespace

void parse_stages(YamlReader& r, const Field& field, Pipeline& p, const std::vector<std::string>& stage_names) {
  auto stages = without_templates(r.map(field));
  if (!stages) return;
  std::vector<std::string> image_names;
  for (const auto& img : p.images) image_names.push_back(img.name);
  const std::vector<std::string> env_names = names_of(p.environments);

  for (const auto& st : *stages) {
    if (!r.check_name(st, st.key, /*lowercase=*/false)) continue;
    const StageDef* other = p.find_stage(st.key);
    for (const auto& s : p.stages)
      if (!other && s.matrix_of == st.key) other = &s;
    if (other) {
      r.error(st.key_pos, st.path, "stage '" + st.key + "'" + also_in(r, other->file, other->pos));
      continue;
    }
    StageDef stage;
    stage.name = st.key;
    stage.file = r.file();
    stage.pos = st.key_pos;
    if (!p.environments.empty()) stage.environment = p.environments.front().name;
    auto entries = r.map(st, kStageKeys, {"image", "run"});
    if (!entries) continue;
    std::optional<MatrixDef> matrix;
    bool bad_matrix = false;
    for (const auto& e : *entries) {
      if (e.key == "matrix") {
        matrix = parse_matrix(r, e);
        bad_matrix = !matrix;
      } else if (e.key == "image") {
        auto v = r.non_empty_string(e);
        if (!v) continue;
        stage.image = *v;
        stage.image_pos = YamlReader::pos(e);
        bool of_file = std::find(image_names.begin(), image_names.end(), *v) != image_names.end();
        if (!of_file && !plausible_image_ref(*v))
          r.error(e, "unknown image '" + *v + "': not an image of this file nor an image reference" +
                         did_you_mean(*v, image_names));
      } else if (e.key == "run") {
        if (auto v = r.string_or_list(e)) stage.run = *v;
      } else if (e.key == "needs") {
        std::vector<Field> list;  // `needs: unit` is `needs: [unit]`
        if (e.node.IsScalar()) list.push_back(Field{e.node, e.path, YamlReader::pos(e), ""});
        else if (auto l = r.list(e)) list = *l;
        for (const auto& n : list) {
          auto name = r.non_empty_string(n);
          if (!name) continue;
          if (std::find(stage_names.begin(), stage_names.end(), *name) == stage_names.end()) {
            r.error(n, "unknown stage '" + *name + "'" + did_you_mean(*name, stage_names));
            continue;
          }
          if (*name == stage.name) {
            r.error(n, "stage '" + stage.name + "' needs itself");
            continue;
          }
          if (std::find(stage.needs.begin(), stage.needs.end(), *name) != stage.needs.end()) {
            r.error(n, "duplicate need '" + *name + "'");
            continue;
          }
          stage.needs.push_back(*name);
          stage.needs_pos.push_back(YamlReader::pos(n));
        }
      } else if (e.key == "environment") {
        auto v = r.non_empty_string(e);
        if (!v) continue;
        if (!p.find_environment(*v)) {
          r.error(e, "unknown environment '" + *v + "'" + did_you_mean(*v, env_names));
          continue;
        }
        stage.environment = *v;
        stage.environment_explicit = true;
        stage.environment_pos = YamlReader::pos(e);
      } else if (e.key == "env") {
        if (auto v = r.env(e)) stage.env = *v;
      } else if (e.key == "secrets") {
        parse_secrets(r, e, stage);
      } else if (e.key == "timeout") {
        auto text = r.non_empty_string(e);
        if (!text) continue;
        auto v = parse_duration(*text);
        if (v) stage.timeout = *v;
        else r.error(e, v.error().message());
      } else if (e.key == "limits") {
        parse_limits(r, e, stage.limits);
      } else if (e.key == "network") {
        if (auto v = r.network(e)) stage.network = *v;
      } else if (e.key == "artifacts") {
        auto elements = r.list(e);
        for (const auto& a : elements.value_or(std::vector<Field>{}))
          if (auto v = r.absolute_path(a)) stage.artifacts.push_back(*v);
      } else if (e.key == "reports") {
        parse_reports(r, e, stage);
      } else if (e.key == "cache") {
        if (auto v = r.boolean(e)) stage.cache = *v;
      } else if (e.key == "interruptible") {
        if (auto v = r.boolean(e)) stage.interruptible = *v;
      } else if (e.key == "allow_failure") {
        if (auto v = r.boolean(e)) stage.allow_failure = *v;
      } else if (e.key == "retry") {
        auto v = r.count(e);
        if (v && *v > 10) r.error(e, "expected at most 10 retries, got " + std::to_string(*v));
        else if (v) stage.retry = static_cast<unsigned>(*v);
      } else if (e.key == "workspace") {
        if (auto v = r.boolean(e)) stage.workspace = *v;
      } else if (e.key == "services") {
        parse_services(r, e, p, stage);
      } else if (e.key == "caches") {
        stage.caches = parse_caches(r, e);
      } else if (e.key == "runs_on") {
        // Agent labels (gantry agent --labels): letters, digits, '.', '_', '-'.
        for (const auto& label : r.string_or_list(e).value_or(std::vector<std::string>{})) {
          const bool ok = !label.empty() && std::all_of(label.begin(), label.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
          });
          if (!ok) r.error(e, "'" + label + "' is not a label (letters, digits, '.', '_', '-')");
          else stage.runs_on.push_back(label);
        }
      } else if (e.key == "inputs") {
        if (auto v = r.string_or_list(e)) {
          stage.inputs = *v;
          stage.tree_inputs = tree_paths(r, e, *v, p.base_dir);
        }
      }
    }
    if (!stage.services.empty() && stage.network == NetworkMode::host)
      r.error(stage.pos, st.path, "a stage with services runs in its own network namespace: network: host and "
                                  "services cannot go together");
    if (bad_matrix) continue;
    if (!matrix) {
      p.stages.push_back(std::move(stage));
      continue;
    }
    for (auto& cell : expand_matrix(r, stage, *matrix)) p.stages.push_back(std::move(cell));
  }
}

}  // namespace gantry::pipeline
