// load_pipeline: YAML text → Pipeline, every problem of the file collected.
#include "pipeline/loader.h"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <limits>
#include "common/image_ref.h"

#include "common/digest.h"
#include "common/project_name.h"
#include "common/rooted_path.h"
#include "pipeline/parse_parts.h"

namespace gantry::pipeline {

namespace {

const std::vector<std::string> kTopKeys = {"project", "images", "stages", "environments", "epoch", "include",
                                           "interruptible"};
// What an included file may hold: project and epoch belong to the pipeline file.
const std::vector<std::string> kIncludedTopKeys = {"images", "stages", "environments", "include"};
const std::vector<std::string> kImageKeys = {"from", "env", "workdir", "user", "entrypoint", "cmd", "labels", "steps"};
const std::vector<std::string> kEnvironmentKeys = {"name", "when", "export", "push", "require", "concurrency"};
const std::vector<std::string> kRequireKeys = {"signed_by", "provenance", "passed"};
const std::vector<std::string> kProvenanceKeys = {"repository", "branch"};

std::string dir_of(const std::string& file) {
  auto slash = file.rfind('/');
  if (slash == std::string::npos) return "";
  std::string dir = file.substr(0, slash);
  return normalize_tree_path("", dir).value_or("");
}

// entrypoint / cmd: a string s means {"/bin/sh", "-c", s}.
std::optional<std::vector<std::string>> argv_or_shell(YamlReader& r, const Field& f) {
  if (f.node.IsScalar()) {
    auto s = r.non_empty_string(f);
    if (!s) return std::nullopt;
    return std::vector<std::string>{"/bin/sh", "-c", *s};
  }
  return r.string_or_list(f, /*allow_empty=*/true);
}

// `export:` is a path below the runner's export_dir for the project; what is
// wrong with it, if anything.
std::optional<std::string> export_path_problem(const std::string& path) {
  if (path.starts_with('/'))
    return "'" + path + "' is absolute: exports are written below the runner's export_dir for the project " +
           "(runner config projects.<project>.export_dir, docs/security.md); write a path relative to it";
  if (!split_beneath_path(path))
    return "'" + path + "': expected a path relative to the runner's export_dir without '.' or '..' components";
  return std::nullopt;
}

}  // namespace

std::string also_in(const YamlReader& r, const std::string& file, SourcePos pos) {
  if (file == r.file()) return "";  // the YAML reader reported the duplicate key itself
  return " is also defined in " + file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) +
         " (files merged by include: must not define one name twice)";
}

namespace {

// The fields of one document's top level that parse_documents reads.
struct TopLevel {
  std::optional<std::vector<Field>> entries;
  const Field* images = nullptr;
  const Field* stages = nullptr;
  const Field* environments = nullptr;
};

TopLevel read_top_level(YamlReader& r, const Document& doc, Pipeline& p) {
  TopLevel top;
  Field root{doc.root, "", SourcePos{1, 1}, ""};
  // Top-level keys starting with '.' hold templates (anchors for `<<:`
  // merges, as GitLab's hidden jobs): neither images, stages nor environments.
  std::vector<std::string> allowed = doc.depth == 0 ? kTopKeys : kIncludedTopKeys;
  for (const auto& key : r.key_names(doc.root))
    if (is_template_key(key) || (doc.depth > 0 && (key == "project" || key == "epoch" || key == "interruptible")))
      allowed.push_back(key);
  top.entries = r.map(root, allowed);
  if (!top.entries) return top;
  for (const auto& e : *top.entries) {
    if (e.key == "images") top.images = &e;
    if (e.key == "stages") top.stages = &e;
    if (e.key == "environments") top.environments = &e;
    if (doc.depth > 0 && (e.key == "project" || e.key == "epoch" || e.key == "interruptible")) {
      r.error(e.key_pos, e.path, "'" + e.key + "' belongs in the pipeline file (" + p.file + "), not in a file it includes");
      continue;
    }
    if (e.key == "interruptible")
      if (auto v = r.boolean(e)) p.interruptible = *v;
    if (e.key == "epoch") {
      auto v = r.count(e);
      if (v && *v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / 2))
        r.error(e, "expected seconds since 1970 (e.g. 1700000000), got " + std::to_string(*v));
      else if (v) p.epoch = static_cast<std::int64_t>(*v);
    }
    if (e.key == "project") {
      p.project_pos = r.pos(e);
      if (auto name = r.non_empty_string(e)) {
        if (auto problem = project_name_problem(*name)) r.error(e, "not a valid project name: " + *problem);
        else p.project = *name;
      }
    }
  }
  return top;
}

std::vector<std::string> keys_of(YamlReader& r, const Field* field) {
  std::vector<std::string> out;
  if (!field) return out;
  for (auto& name : r.key_names(field->node))
    if (!is_template_key(name)) out.push_back(std::move(name));
  return out;
}

// Environments of every file first (stages name them), then every image
// (stages name them), then every stage, then the checks of the whole graph.
void parse_documents(const std::vector<Document>& docs, Pipeline& p, Diagnostics& diags) {
  std::vector<YamlReader> readers;
  readers.reserve(docs.size());
  for (const auto& doc : docs) readers.emplace_back(doc.file, diags);
  std::vector<TopLevel> tops;
  for (std::size_t i = 0; i < docs.size(); ++i) tops.push_back(read_top_level(readers[i], docs[i], p));

  std::vector<std::string> image_names, stage_names;
  bool any_environments = false;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    for (auto& n : keys_of(readers[i], tops[i].images)) image_names.push_back(std::move(n));
    for (auto& n : keys_of(readers[i], tops[i].stages)) stage_names.push_back(std::move(n));
    any_environments = any_environments || tops[i].environments;
  }
  if (!tops[0].entries) return;
  bool any_work = false;
  for (const auto& top : tops) any_work = any_work || top.images || top.stages;
  if (!any_work)
    readers[0].error(SourcePos{1, 1}, "", "nothing to do: the file declares neither 'images' nor 'stages'");

  if (!any_environments) parse_environments(readers[0], nullptr, p);
  for (std::size_t i = 0; i < docs.size(); ++i)
    if (tops[i].environments) parse_environments(readers[i], tops[i].environments, p);
  for (std::size_t i = 0; i < docs.size(); ++i)
    if (tops[i].images) parse_images(readers[i], *tops[i].images, p, image_names);
  for (std::size_t i = 0; i < docs.size(); ++i)
    if (tops[i].stages) parse_stages(readers[i], *tops[i].stages, p, stage_names);
  expand_matrix_needs(p);  // after every file: a need may name a matrix stage of another file
  check_graphs(readers[0], p);
  check_requirements(readers[0], p);
}

// The pipeline's digest: its file's bytes alone, or with includes those and
// every included file's path and blob id.
std::string pipeline_digest(const std::string& text, const std::vector<IncludedFile>& includes) {
  if (includes.empty()) return Digest::of(text).str();
  std::string record = Digest::of(text).str();
  for (const auto& inc : includes) record += '\n' + inc.path + '\0' + inc.blob_id;
  return Digest::of(record).str();
}

}  // namespace

bool is_template_key(const std::string& key) { return key.starts_with('.'); }

std::optional<std::vector<Field>> without_templates(std::optional<std::vector<Field>> fields) {
  if (!fields) return fields;
  // Copied, never erased in place: assigning a YAML::Node (as erase does)
  // rewrites the node it refers to, anchors included.
  std::vector<Field> out;
  for (const auto& f : *fields)
    if (!is_template_key(f.key)) out.push_back(f);
  return out;
}

std::optional<std::string> normalize_tree_path(const std::string& base_dir, const std::string& path) {
  std::vector<std::string> parts;
  auto push = [&](std::string_view text) -> bool {
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t slash = text.find('/', start);
      if (slash == std::string_view::npos) slash = text.size();
      std::string_view seg = text.substr(start, slash - start);
      start = slash + 1;
      if (seg.empty() || seg == ".") continue;
      if (seg == "..") {
        if (parts.empty()) return false;
        parts.pop_back();
      } else {
        parts.emplace_back(seg);
      }
    }
    return true;
  };
  if (!path.starts_with('/') && !push(base_dir)) return std::nullopt;
  if (!push(path)) return std::nullopt;
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

bool plausible_image_ref(const std::string& ref) { return parse_image_ref(ref).has_value(); }

// A key name of `signed_by`: letters, digits, '.', '_', '-', '/' (no "..").
bool plausible_key_name(const std::string& name) {
  if (name.empty() || name.size() > 200 || name.find("..") != std::string::npos || name.front() == '/') return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' && c != '/') return false;
  return true;
}

EnvironmentRequire parse_require(YamlReader& r, const Field& field) {
  EnvironmentRequire req;
  req.pos = YamlReader::pos(field);
  auto entries = r.map(field, kRequireKeys);
  if (!entries) return req;
  for (const auto& e : *entries) {
    if (e.key == "signed_by") {
      if (auto v = r.string_or_list(e)) {
        for (const auto& name : *v) {
          if (!plausible_key_name(name))
            r.error(e, "expected key names of the runner's configuration (keys: in runner.yml), got '" + name + "'");
          else req.signed_by.push_back(name);
        }
      }
    } else if (e.key == "provenance") {
      auto prov = r.map(e, kProvenanceKeys);
      if (!prov) continue;
      for (const auto& pe : *prov) {
        if (pe.key == "repository") {
          if (auto v = r.non_empty_string(pe)) req.repository = *v;
        } else if (pe.key == "branch") {
          if (auto v = r.non_empty_string(pe)) req.branch = v->starts_with("refs/heads/") ? v->substr(11) : *v;
        }
      }
    } else if (e.key == "passed") {
      if (auto items = r.list(e)) {
        for (const auto& item : *items)
          if (auto v = r.non_empty_string(item)) {
            req.passed.push_back(*v);
            req.passed_pos.push_back(YamlReader::pos(item));
          }
      }
    }
  }
  return req;
}

void parse_environments(YamlReader& r, const Field* field, Pipeline& p) {
  if (!field) {
    for (const char* name : {"test", "staging", "production"}) p.environments.push_back(EnvironmentDef{name});
    return;
  }
  auto items = r.list(*field);
  if (!items) return;
  if (items->empty()) r.error(*field, "expected at least one environment");
  for (const auto& item : *items) {
    EnvironmentDef env;
    env.file = r.file();
    env.pos = YamlReader::pos(item);
    Field name_field = item;
    if (item.node.IsScalar()) {
      auto name = r.non_empty_string(item);
      if (!name) continue;
      env.name = *name;
    } else {
      auto entries = r.map(item, kEnvironmentKeys, {"name"});
      if (!entries) continue;
      for (const auto& e : *entries) {
        if (e.key == "name") {
          if (auto v = r.non_empty_string(e)) env.name = *v, name_field = e;
        } else if (e.key == "when") {
          auto v = r.string(e);
          if (v && *v == "auto") env.when = Gate::automatic;
          else if (v && *v == "manual") env.when = Gate::manual;
          else if (v) r.error(e, "expected 'auto' or 'manual', got '" + *v + "'");
        } else if (e.key == "export") {
          env.export_pos = YamlReader::pos(e);
          if (auto v = r.non_empty_string(e)) {
            if (auto why = export_path_problem(*v)) r.error(e, *why);
            else env.export_path = *v;
          }
        } else if (e.key == "push") {
          env.push_pos = YamlReader::pos(e);
          auto v = r.non_empty_string(e);
          if (v && !plausible_image_ref(*v))
            r.error(e, "expected a registry reference (host[:port]/name[:tag]), got '" + *v + "'");
          else if (v) env.push = *v;
        } else if (e.key == "require") {
          env.require = parse_require(r, e);
        } else if (e.key == "concurrency") {
          auto v = r.string(e);
          if (v && *v == "unlimited") {
            env.concurrency = 0;
          } else if (v) {
            int n = 0;
            auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
            if (ec != std::errc() || end != v->data() + v->size() || n < 1 || n > 100)
              r.error(e, "expected a number of runs from 1 to 100, or 'unlimited', got '" + *v + "'");
            else
              env.concurrency = n;
          }
        }
      }
      if (env.name.empty()) continue;
    }
    name_field.key_pos = YamlReader::pos(name_field);
    if (!r.check_name(name_field, env.name, false)) continue;
    if (const auto* other = p.find_environment(env.name)) {
      r.error(YamlReader::pos(name_field), item.path,
              "duplicate environment '" + env.name + "'" + also_in(r, other->file, other->pos));
      continue;
    }
    p.environments.push_back(std::move(env));
  }
}

void parse_images(YamlReader& r, const Field& field, Pipeline& p, const std::vector<std::string>& names) {
  auto images = without_templates(r.map(field));
  if (!images) return;
  for (const auto& img : *images) {
    if (!r.check_name(img, img.key, /*lowercase=*/true)) continue;
    if (img.key == "scratch") {
      r.error(img.key_pos, img.path, "'scratch' names the empty base image; pick another name");
      continue;
    }
    if (const auto* other = p.find_image(img.key)) {
      r.error(img.key_pos, img.path, "image '" + img.key + "'" + also_in(r, other->file, other->pos));
      continue;
    }
    ImageDef def;
    def.name = img.key;
    def.file = r.file();
    def.pos = img.key_pos;
    auto entries = r.map(img, kImageKeys, {"from"});
    if (entries) {
      for (const auto& e : *entries) {
        if (e.key == "from") {
          auto v = r.non_empty_string(e);
          if (!v) continue;
          def.from = *v;
          def.from_pos = YamlReader::pos(e);
          bool of_file = std::find(names.begin(), names.end(), *v) != names.end();
          if (*v != "scratch" && !of_file && !plausible_image_ref(*v))
            r.error(e, "expected 'scratch', an image of this file or an image reference "
                       "(name[:tag], host[:port]/name[:tag], name@sha256:...), got '" + *v + "'");
        } else if (e.key == "env") {
          if (auto v = r.env(e)) def.env = *v;
        } else if (e.key == "workdir") {
          if (auto v = r.absolute_path(e)) def.workdir = *v;
        } else if (e.key == "user") {
          if (auto v = r.non_empty_string(e)) def.user = *v;
        } else if (e.key == "entrypoint") {
          if (auto v = argv_or_shell(r, e)) def.entrypoint = *v;
        } else if (e.key == "cmd") {
          if (auto v = argv_or_shell(r, e)) def.cmd = *v;
        } else if (e.key == "labels") {
          if (auto v = r.string_map(e)) def.labels = *v;
        } else if (e.key == "steps") {
          def.steps = parse_steps(r, e, p.base_dir);
        }
      }
    }
    p.images.push_back(std::move(def));
  }
}

LoadResult load_pipeline(const std::string& yaml_text, const std::string& file_name, const IncludeLookup& includes) {
  Diagnostics diags;
  YamlReader r(file_name, diags);
  Pipeline p;
  p.file = file_name;
  p.base_dir = dir_of(file_name);

  Document main{file_name, {}, 0};
  try {
    main.root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    auto problem = explain_syntax_error(yaml_text, e);
    r.error(problem.pos, "", std::move(problem.message));
    return std::unexpected(std::move(diags));
  }
  if (!main.root.IsDefined() || main.root.IsNull()) {
    r.error(SourcePos{1, 1}, "", "empty file: expected 'images', 'stages' and 'environments'");
    return std::unexpected(std::move(diags));
  }
  try {
    auto docs = collect_documents(main, p.base_dir, includes, diags, p.includes);
    parse_documents(docs, p, diags);
  } catch (const YAML::Exception& e) {  // not expected once parsed; kept as a diagnostic, never a crash
    r.error(SourcePos{e.mark.line + 1, e.mark.column + 1}, "", "invalid YAML: " + e.msg);
  }
  p.digest = pipeline_digest(yaml_text, p.includes);
  if (!diags.empty()) {
    diags.sort();
    return std::unexpected(std::move(diags));
  }
  return p;
}

}  // namespace gantry::pipeline
