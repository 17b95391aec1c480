// `include:`: the pipeline file and the files it includes from the same
// commit's tree, collected depth first (docs/pipeline.md, "include").
#include <algorithm>

#include "pipeline/parse_parts.h"

namespace gantry::pipeline {

namespace {

struct IncludeEntry {
  std::string pattern;
  SourcePos pos;
};

// The patterns a document's top-level `include:` names (a string or a list
// of strings), each with its position; problems reported.
std::vector<IncludeEntry> include_entries(YamlReader& r, const YAML::Node& root) {
  std::vector<IncludeEntry> out;
  if (!root.IsMap()) return out;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (!it->first.IsScalar() || it->first.Scalar() != "include") continue;
    Field f{it->second, "include", YamlReader::mark_pos(it->first), "include"};
    if (f.node.IsScalar()) {
      if (auto v = r.non_empty_string(f)) out.push_back({*v, YamlReader::pos(f)});
    } else if (auto items = r.list(f)) {
      for (const auto& item : *items)
        if (auto v = r.non_empty_string(item)) out.push_back({*v, YamlReader::pos(item)});
    }
  }
  return out;
}

std::string chain(const std::vector<std::string>& stack, const std::string& last) {
  std::string out;
  for (const auto& f : stack) out += f + " -> ";
  return out + last;
}

class Collector {
 public:
  Collector(const std::string& base_dir, const IncludeLookup& lookup, Diagnostics& diags,
            std::vector<IncludedFile>& included)
      : base_dir_(base_dir), lookup_(lookup), diags_(diags), included_(included) {}

  std::vector<Document> docs;

  void visit(const Document& doc) {
    docs.push_back(doc);
    stack_.push_back(doc.file);
    YamlReader r(doc.file, diags_);
    for (const auto& entry : include_entries(r, doc.root)) include(r, doc, entry);
    stack_.pop_back();
  }

 private:
  void include(YamlReader& r, const Document& doc, const IncludeEntry& entry) {
    if (!lookup_) {
      r.error(entry.pos, "include", "'" + entry.pattern + "': this pipeline text has no commit tree to include from");
      return;
    }
    auto pattern = normalize_tree_path(base_dir_, entry.pattern);
    if (!pattern || pattern->empty()) {
      r.error(entry.pos, "include", "'" + entry.pattern + "' leaves the repository (paths are relative to the "
                                    "pipeline file's directory; a leading '/' is the repository root)");
      return;
    }
    if (doc.depth + 1 > kMaxIncludeDepth) {
      r.error(entry.pos, "include", "'" + entry.pattern + "': includes nest deeper than " +
                                        std::to_string(kMaxIncludeDepth) + " levels (" + chain(stack_, *pattern) + ")");
      return;
    }
    auto files = lookup_(*pattern);
    if (!files) {
      r.error(entry.pos, "include", "'" + entry.pattern + "': " + files.error().message());
      return;
    }
    if (files->empty()) {
      r.error(entry.pos, "include", "'" + entry.pattern + "'" + (*pattern != entry.pattern ? " (" + *pattern + ")" : "") +
                                        " matches no file in the commit");
      return;
    }
    for (auto& file : *files) {
      if (std::find(stack_.begin(), stack_.end(), file.path) != stack_.end()) {
        r.error(entry.pos, "include", "include cycle: " + chain(stack_, file.path));
        continue;
      }
      if (std::any_of(docs.begin(), docs.end(), [&](const Document& d) { return d.file == file.path; }))
        continue;  // included once, where it was first named
      Document child{file.path, {}, doc.depth + 1};
      try {
        child.root = YAML::Load(file.text);
      } catch (const YAML::Exception& e) {
        auto problem = explain_syntax_error(file.text, e);
        YamlReader(file.path, diags_).error(problem.pos, "", std::move(problem.message));
        continue;
      }
      included_.push_back({file.path, file.blob_id, ""});
      visit(child);
    }
  }

  const std::string& base_dir_;
  const IncludeLookup& lookup_;
  Diagnostics& diags_;
  std::vector<IncludedFile>& included_;
  std::vector<std::string> stack_;
};

}  // namespace

std::vector<Document> collect_documents(const Document& main, const std::string& base_dir,
                                        const IncludeLookup& lookup, Diagnostics& diags,
                                        std::vector<IncludedFile>& included) {
  Collector collector(base_dir, lookup, diags, included);
  collector.visit(main);
  return std::move(collector.docs);
}

}  // namespace gantry::pipeline
