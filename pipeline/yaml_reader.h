// Private to pipeline/: typed reading of yaml-cpp nodes that records every
// problem as a Diagnostic (with the node's line and column) instead of
// stopping at the first. Each getter returns nullopt after reporting.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/loader.h"
#include "pipeline/pipeline.h"

namespace gantry::pipeline {

// A value with where it is: its node, its dotted key path, and the position
// of its key (used when the value itself has no useful mark, e.g. `key:`).
// Never assign a Field (or a YAML::Node) over another: yaml-cpp's assignment
// rewrites the node referred to (and every alias of it); copy-construct.
struct Field {
  YAML::Node node;
  std::string path;  // "images.app.steps[1].run"
  SourcePos key_pos;
  std::string key;   // the last key ("run"), or "" for a list element
};

// A YAML syntax error as a user should read it: the common mistakes
// (a tab in the indentation, an unquoted value starting with '*') named with
// what to write instead, at their own line:col; else the parser's message.
struct SyntaxProblem {
  SourcePos pos;
  std::string message;
};
SyntaxProblem explain_syntax_error(const std::string& text, const YAML::Exception& e);

// A variable name: letters, digits and '_', not starting with a digit.
bool is_env_name(const std::string& s);

class YamlReader {
 public:
  YamlReader(std::string file, Diagnostics& diags) : file_(std::move(file)), diags_(diags) {}

  const std::string& file() const { return file_; }
  Diagnostics& diagnostics() { return diags_; }

  static SourcePos mark_pos(const YAML::Node& node);
  // The value's position, or its key's when the value has none (null values).
  static SourcePos pos(const Field& f);
  void error(SourcePos pos, const std::string& path, std::string message);
  void error(const Field& f, std::string message) { error(pos(f), f.path, std::move(message)); }

  // "a string", "a list", "a mapping", "nothing".
  static std::string kind_name(const YAML::Node& node);

  // The entries of a mapping: its own keys in file order, then those merged
  // in with `<<: *anchor` / `<<: [*a, *b]` (YAML merge keys; own keys win,
  // then the first merged mapping). Reports a non-mapping, keys that are not
  // strings, duplicate keys (at the second one), a bad merge value and, when
  // `allowed` is non-empty, unknown keys with a "did you mean". `required`
  // keys that are missing are reported at f's key. Returns nullopt when f is
  // not a mapping.
  std::optional<std::vector<Field>> map(const Field& f, const std::vector<std::string>& allowed = {},
                                        const std::vector<std::string>& required = {});
  // A mapping's key names as map() sees them (merge keys resolved), file
  // order; nothing reported. Empty for a non-mapping.
  std::vector<std::string> key_names(const YAML::Node& node);

  // The elements of a list ("path[i]").
  std::optional<std::vector<Field>> list(const Field& f);

  std::optional<std::string> string(const Field& f);  // any scalar, as written
  // Reports a value YAML read as a tag (`!docs/` unquoted); true when it did.
  bool unquoted_bang(const Field& f);
  std::optional<std::string> non_empty_string(const Field& f);
  std::optional<std::string> absolute_path(const Field& f);
  // A string gives a one-element list; a list must hold strings only.
  std::optional<std::vector<std::string>> string_or_list(const Field& f, bool allow_empty = false);
  std::optional<std::vector<std::string>> string_list(const Field& f);  // a list only
  std::optional<bool> boolean(const Field& f);
  std::optional<std::uint64_t> count(const Field& f);  // a non-negative integer
  std::optional<EnvList> env(const Field& f);          // NAME: value mapping
  std::optional<std::map<std::string, std::string>> string_map(const Field& f);
  std::optional<NetworkMode> network(const Field& f);
  // A name of an image, stage or environment: letters, digits, '.', '_', '-'
  // (images: lowercase, as they become store tags).
  bool check_name(const Field& f, const std::string& name, bool lowercase);

 private:
  struct Entry {
    YAML::Node key;
    YAML::Node value;
    bool merged = false;  // from a `<<` merge (overridden silently)
  };
  bool merge_sources(const YAML::Node& value, const std::string& path, SourcePos at, std::vector<YAML::Node>& out,
                     bool report);
  void collect_entries(const YAML::Node& node, const std::string& path, int depth, std::vector<Entry>& out,
                       bool report);

  std::string file_;
  Diagnostics& diags_;
};

}  // namespace gantry::pipeline
