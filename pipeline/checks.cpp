// The checks that need the whole file (cycles, needs across environments),
// the runner's knowledge (validate_refs) or the commit (validate_against_tree).
#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "pipeline/dag.h"
#include "pipeline/loader.h"
#include "pipeline/parse_parts.h"
#include "pipeline/path_filter.h"

namespace gantry::pipeline {

void check_graphs(YamlReader& r, const Pipeline& p) {
  if (auto cycle = image_cycle(p)) {
    const ImageDef* img = p.find_image(cycle->front());
    r.diagnostics().add(img->file, img->from_pos, "images." + img->name + ".from",
                        "cycle between images: " + format_cycle(*cycle));
  }
  if (auto cycle = stage_cycle(p)) {
    const StageDef* st = p.find_stage(cycle->front());
    auto it = std::find(st->needs.begin(), st->needs.end(), (*cycle)[1]);
    std::size_t i = static_cast<std::size_t>(it - st->needs.begin());
    SourcePos pos = i < st->needs_pos.size() ? st->needs_pos[i] : st->pos;
    r.diagnostics().add(st->file, pos, "stages." + st->name + ".needs", "cycle between stages: " + format_cycle(*cycle));
  }
  for (const auto& st : p.stages) {
    int mine = p.environment_index(st.environment);
    for (std::size_t i = 0; i < st.needs.size(); ++i) {
      const StageDef* need = p.find_stage(st.needs[i]);
      if (!need) continue;
      int theirs = p.environment_index(need->environment);
      if (theirs > mine) {
        r.diagnostics().add(st.file, st.needs_pos[i], "stages." + st.name + ".needs[" + std::to_string(i) + "]",
                            "stage '" + st.name + "' runs in environment '" + st.environment + "' but needs '" +
                                need->name + "', which runs later, in '" + need->environment + "'");
      }
    }
  }
}

// A `require: passed:` stage must exist and run before the environment is
// promoted to (in it or an earlier one), or no digest could ever pass.
void check_requirements(YamlReader& r, const Pipeline& p) {
  for (std::size_t ei = 0; ei < p.environments.size(); ++ei) {
    const auto& env = p.environments[ei];
    if (!env.require) continue;
    for (std::size_t i = 0; i < env.require->passed.size(); ++i) {
      const std::string& name = env.require->passed[i];
      const std::string at = "environments[" + std::to_string(ei) + "].require.passed[" + std::to_string(i) + "]";
      const StageDef* st = p.find_stage(name);
      if (!st) {
        r.error(env.require->passed_pos[i], at, "unknown stage '" + name + "'");
        continue;
      }
      if (p.environment_index(st->environment) > static_cast<int>(ei))
        r.error(env.require->passed_pos[i], at,
                "stage '" + name + "' runs in '" + st->environment + "', after the promotion to '" + env.name +
                    "': it can never have passed by then");
    }
  }
}

Diagnostics validate_refs(const Pipeline& p, const std::function<bool(const std::string& ref)>& image_exists) {
  Diagnostics diags;
  std::vector<std::string> file_images;
  for (const auto& img : p.images) file_images.push_back(img.name);
  std::map<std::string, bool> known;  // one callback per distinct ref
  auto exists = [&](const std::string& ref) {
    auto it = known.find(ref);
    if (it == known.end()) it = known.emplace(ref, image_exists(ref)).first;
    return it->second;
  };
  auto message = [&](const std::string& ref) {
    std::string msg = "unknown image '" + ref + "': not an image of this file nor an image gantry can find";
    std::string guess = closest_match(ref, file_images);
    if (!guess.empty()) msg += " (did you mean '" + guess + "'?)";
    return msg;
  };
  for (const auto& img : p.images) {
    if (img.from == "scratch" || p.find_image(img.from)) continue;
    if (!exists(img.from)) diags.add(img.file, img.from_pos, "images." + img.name + ".from", message(img.from));
  }
  for (const auto& st : p.stages) {
    if (p.find_image(st.image)) continue;
    if (!exists(st.image)) diags.add(st.file, st.image_pos, "stages." + st.name + ".image", message(st.image));
  }
  std::set<std::tuple<std::string, int, int>> reported;  // a matrix's cells share their services
  for (const auto& st : p.stages) {
    for (std::size_t i = 0; i < st.services.size(); ++i) {
      const auto& svc = st.services[i];
      if (p.find_image(svc.image) || exists(svc.image)) continue;
      const std::string& file = st.file.empty() ? p.file : st.file;
      if (!reported.insert({file, svc.image_pos.line, svc.image_pos.column}).second) continue;
      diags.add(file, svc.image_pos, "stages." + (st.matrix_of.empty() ? st.name : st.matrix_of) + ".services[" +
                                           std::to_string(i) + "].image", message(svc.image));
    }
  }
  diags.sort();
  return diags;
}

Diagnostics validate_against_tree(const Pipeline& p, GitRepo& repo, const Commit& commit) {
  Diagnostics diags;
  for (const auto& img : p.images) {
    for (std::size_t i = 0; i < img.steps.size(); ++i) {
      const Step& step = img.steps[i];
      if (step.kind != StepKind::copy) continue;
      std::string key = "images." + img.name + ".steps[" + std::to_string(i) + "].copy";
      for (std::size_t s = 0; s < step.tree_sources.size(); ++s) {
        const std::string& tree_path = step.tree_sources[s];
        if (is_exclude(tree_path)) continue;  // an exclude that matches nothing is fine
        auto entries = repo.list(commit, tree_path);
        if (!entries) {
          diags.add(img.file, step.pos, key, entries.error().message());
        } else if (entries->empty()) {
          std::string shown = step.sources[s] == tree_path ? "'" + tree_path + "'"
                                                          : "'" + step.sources[s] + "' (" + tree_path + ")";
          diags.add(img.file, step.pos, key,
                    std::string(is_glob(tree_path) ? "copy source pattern " : "copy source ") + shown +
                        (is_glob(tree_path) ? " matches nothing" : " does not exist") + " in commit " +
                        commit.short_id);
        }
      }
    }
  }
  diags.sort();
  return diags;
}

Result<Pipeline> load_pipeline_from_git(GitRepo& repo, const Commit& commit, const std::string& path) {
  auto text = repo.read_file(commit, path);
  if (!text) {
    if (text.error().kind() == ErrorKind::not_found)
      return fail(ErrorKind::not_found, "no " + path + " in commit " + commit.short_id + " of " + repo.spec());
    return fail(text.error().context("reading " + path));
  }
  IncludeLookup includes = [&](const std::string& pattern) -> Result<std::vector<IncludedFile>> {
    std::vector<IncludedFile> files;
    for (const auto& entry : TRY(repo.list(commit, pattern))) {
      if (entry.mode != kModeFile && entry.mode != kModeExecutable) continue;  // directories, links, submodules
      files.push_back({entry.path, entry.oid, TRY_CTX(repo.read_file(commit, entry.path), "reading " + entry.path)});
    }
    return files;
  };
  auto pipeline = load_pipeline(*text, path, includes);
  if (!pipeline) return fail(pipeline.error().to_error());
  Diagnostics tree = validate_against_tree(*pipeline, repo, commit);
  if (!tree.empty()) return fail(tree.to_error());
  return std::move(*pipeline);
}

}  // namespace gantry::pipeline
