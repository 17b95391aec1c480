#include "pipeline/yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

namespace gantry::pipeline {

namespace {

std::string join_quoted(const std::vector<std::string>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += (i + 1 == words.size()) ? " or " : ", ";
    out += words[i];
  }
  return out;
}

}  // namespace

bool is_env_name(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

SourcePos YamlReader::mark_pos(const YAML::Node& node) {
  if (!node.IsDefined()) return {};
  YAML::Mark m = node.Mark();
  if (m.line < 0 || m.column < 0) return {};
  return SourcePos{m.line + 1, m.column + 1};
}

SourcePos YamlReader::pos(const Field& f) {
  if (f.node.IsDefined() && !f.node.IsNull()) {
    SourcePos p = mark_pos(f.node);
    if (p.line > 0) return p;
  }
  return f.key_pos;
}

void YamlReader::error(SourcePos p, const std::string& path, std::string message) {
  diags_.add(file_, p, path, std::move(message));
}

std::string YamlReader::kind_name(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsScalar()) return "a string";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "an unknown node";
}

// YAML merge keys (yaml.org/type/merge.html), which yaml-cpp 0.7 leaves as a
// plain "<<" key: `<<: *defaults` or `<<: [*a, *b]` adds the keys of those
// mappings that the mapping does not set itself. Keys written in the mapping
// win over merged ones wherever they are; among merged mappings the first
// listed wins; a merged mapping's own `<<` is resolved first. Merged values
// keep their own line:col (where they are written, in the template).
bool YamlReader::merge_sources(const YAML::Node& value, const std::string& path, SourcePos at,
                               std::vector<YAML::Node>& out, bool report) {
  auto bad = [&] {
    if (report)
      error(mark_pos(value).line > 0 ? mark_pos(value) : at, path,
            "a merge key (<<) takes a mapping or a list of mappings (<<: *name, <<: [*a, *b]), got " +
                kind_name(value));
    return false;
  };
  if (value.IsMap()) {
    out.push_back(value);
    return true;
  }
  if (!value.IsSequence()) return bad();
  for (const auto& item : value) {
    if (!item.IsMap()) return bad();
    out.push_back(item);
  }
  return true;
}

void YamlReader::collect_entries(const YAML::Node& node, const std::string& path, int depth,
                                 std::vector<Entry>& out, bool report) {
  constexpr int kMaxMergeDepth = 32;
  // This mapping's own keys first (they win), then each merge source's.
  std::vector<std::pair<YAML::Node, SourcePos>> merges;
  for (const auto& kv : node) {
    const YAML::Node k = kv.first;
    if (k.IsScalar() && k.Scalar() == "<<" && k.Tag() != "!") {
      merges.emplace_back(kv.second, mark_pos(k));
      continue;
    }
    out.push_back(Entry{k, kv.second, depth > 0});
  }
  if (merges.empty()) return;
  if (depth >= kMaxMergeDepth) {
    if (report) error(merges.front().second, path, "merge keys (<<) nest too deep (a mapping merges itself?)");
    return;
  }
  for (const auto& [value, at] : merges) {
    std::vector<YAML::Node> sources;
    if (!merge_sources(value, path.empty() ? "<<" : path + ".<<", at, sources, report)) continue;
    for (const auto& source : sources) {
      std::vector<Entry> merged;
      collect_entries(source, path, depth + 1, merged, report);
      for (auto& e : merged) {
        e.merged = true;
        out.push_back(std::move(e));
      }
    }
  }
}

std::vector<std::string> YamlReader::key_names(const YAML::Node& node) {
  std::vector<std::string> out;
  if (!node.IsMap()) return out;
  std::vector<Entry> entries;
  collect_entries(node, "", 0, entries, false);
  std::set<std::string> seen;
  for (const auto& e : entries)
    if (e.key.IsScalar() && seen.insert(e.key.Scalar()).second) out.push_back(e.key.Scalar());
  return out;
}

std::optional<std::vector<Field>> YamlReader::map(const Field& f, const std::vector<std::string>& allowed,
                                                  const std::vector<std::string>& required) {
  if (!f.node.IsMap()) {
    std::string expected = allowed.empty() ? "a mapping" : "a mapping with keys " + join_quoted(allowed);
    error(f, "expected " + expected + ", got " + kind_name(f.node));
    return std::nullopt;
  }
  std::vector<Entry> entries;
  collect_entries(f.node, f.path, 0, entries, true);
  std::vector<Field> out;
  std::set<std::string> seen;
  for (const auto& entry : entries) {
    const YAML::Node& k = entry.key;
    SourcePos kp = mark_pos(k);
    if (!k.IsScalar()) {
      if (!entry.merged) error(kp, f.path, "expected a key name, got " + kind_name(k));
      continue;
    }
    std::string key = k.Scalar();
    std::string path = f.path.empty() ? key : f.path + "." + key;
    if (!seen.insert(key).second) {
      // A merged key the mapping (or an earlier merge) already set: overridden.
      if (!entry.merged) error(kp, path, "duplicate key '" + key + "'");
      continue;
    }
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string msg = "unknown key '" + key + "'";
      std::string guess = closest_match(key, allowed);
      if (!guess.empty()) msg += " (did you mean '" + guess + "'?)";
      else msg += "; expected one of " + join_quoted(allowed);
      error(kp, path, std::move(msg));
      continue;
    }
    out.push_back(Field{entry.value, path, kp, key});
  }
  for (const auto& r : required)
    if (!seen.count(r)) error(f.key_pos.line > 0 ? f.key_pos : pos(f), f.path, "missing required key '" + r + "'");
  return out;
}

std::optional<std::vector<Field>> YamlReader::list(const Field& f) {
  if (!f.node.IsSequence()) {
    error(f, "expected a list, got " + kind_name(f.node));
    return std::nullopt;
  }
  std::vector<Field> out;
  std::size_t i = 0;
  for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
    Field e{*it, f.path + "[" + std::to_string(i) + "]", f.key_pos, ""};
    SourcePos p = mark_pos(*it);
    if (p.line > 0) e.key_pos = p;
    out.push_back(std::move(e));
  }
  return out;
}

bool YamlReader::unquoted_bang(const Field& f) {
  // `- !docs/` is YAML for a tag "!docs/" on an empty value, not a string.
  const std::string& tag = f.node.Tag();
  if (!f.node.IsDefined() || tag.empty() || tag == "?" || tag == "!" || tag.starts_with("tag:yaml.org,2002:"))
    return false;
  std::string written = tag + (f.node.IsScalar() && !f.node.Scalar().empty() ? " " + f.node.Scalar() : "");
  error(f, "a value that starts with ! must be quoted: write '" + written + "' (unquoted, YAML reads " + tag +
               " as a tag)");
  return true;
}

std::optional<std::string> YamlReader::string(const Field& f) {
  if (unquoted_bang(f)) return std::nullopt;
  if (!f.node.IsScalar()) {
    error(f, "expected a string, got " + kind_name(f.node));
    return std::nullopt;
  }
  return f.node.Scalar();
}

std::optional<std::string> YamlReader::non_empty_string(const Field& f) {
  auto s = string(f);
  if (s && s->empty()) {
    error(f, "expected a non-empty string");
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> YamlReader::absolute_path(const Field& f) {
  auto s = non_empty_string(f);
  if (s && !s->starts_with('/')) {
    error(f, "expected an absolute path (starting with '/'), got '" + *s + "'");
    return std::nullopt;
  }
  return s;
}

std::optional<std::vector<std::string>> YamlReader::string_or_list(const Field& f, bool allow_empty) {
  if (unquoted_bang(f)) return std::nullopt;
  if (f.node.IsScalar()) {
    if (!allow_empty && f.node.Scalar().empty()) {
      error(f, "expected a non-empty string or list");
      return std::nullopt;
    }
    return std::vector<std::string>{f.node.Scalar()};
  }
  if (!f.node.IsSequence()) {
    error(f, "expected a string or a list of strings, got " + kind_name(f.node));
    return std::nullopt;
  }
  auto items = string_list(f);
  if (items && items->empty() && !allow_empty) {
    error(f, "expected a non-empty list");
    return std::nullopt;
  }
  return items;
}

std::optional<std::vector<std::string>> YamlReader::string_list(const Field& f) {
  auto elements = list(f);
  if (!elements) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (const auto& e : *elements) {
    auto s = string(e);
    if (s) out.push_back(*s);
    else ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<bool> YamlReader::boolean(const Field& f) {
  if (f.node.IsScalar()) {
    const std::string& s = f.node.Scalar();
    if (s == "true" || s == "True" || s == "TRUE" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "False" || s == "FALSE" || s == "no" || s == "off") return false;
  }
  error(f, "expected true or false, got " +
               (f.node.IsScalar() ? "'" + f.node.Scalar() + "'" : kind_name(f.node)));
  return std::nullopt;
}

std::optional<std::uint64_t> YamlReader::count(const Field& f) {
  if (f.node.IsScalar()) {
    const std::string& s = f.node.Scalar();
    std::uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (!s.empty() && ec == std::errc() && ptr == s.data() + s.size()) return v;
  }
  error(f, "expected a non-negative integer, got " +
               (f.node.IsScalar() ? "'" + f.node.Scalar() + "'" : kind_name(f.node)));
  return std::nullopt;
}

std::optional<EnvList> YamlReader::env(const Field& f) {
  auto entries = map(f);
  if (!entries) return std::nullopt;
  EnvList out;
  bool ok = true;
  for (const auto& e : *entries) {
    if (!is_env_name(e.key)) {
      error(e.key_pos, e.path, "invalid variable name '" + e.key + "': expected letters, digits and '_', not starting with a digit");
      ok = false;
      continue;
    }
    auto v = string(e);
    if (!v) {
      ok = false;
      continue;
    }
    out.push_back({e.key, *v});
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::map<std::string, std::string>> YamlReader::string_map(const Field& f) {
  auto entries = map(f);
  if (!entries) return std::nullopt;
  std::map<std::string, std::string> out;
  bool ok = true;
  for (const auto& e : *entries) {
    auto v = string(e);
    if (v) out[e.key] = *v;
    else ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<NetworkMode> YamlReader::network(const Field& f) {
  auto s = string(f);
  if (!s) return std::nullopt;
  if (*s == "none") return NetworkMode::none;
  if (*s == "host") return NetworkMode::host;
  error(f, "expected 'none' or 'host', got '" + *s + "'");
  return std::nullopt;
}

bool YamlReader::check_name(const Field& f, const std::string& name, bool lowercase) {
  bool ok = !name.empty() && std::isalnum(static_cast<unsigned char>(name[0]));
  for (char c : name) {
    bool good = std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
                (lowercase ? std::islower(static_cast<unsigned char>(c)) : std::isalpha(static_cast<unsigned char>(c)));
    ok = ok && good;
  }
  if (!ok) {
    error(f.key_pos, f.path,
          "invalid name '" + name + "': expected " + (lowercase ? "lowercase " : "") +
              "letters, digits, '.', '_' and '-', starting with a letter or digit");
  }
  return ok;
}

}  // namespace gantry::pipeline
