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
struct Field {
  YAML::Node node;
  std::string path;  // "images.app.steps[1].run"
  SourcePos key_pos;
  std::string key;   // the last key ("run"), or "" for a list element
};

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

  // The entries of a mapping in file order. Reports a non-mapping, keys that
  // are not strings, duplicate keys (at the second one) and, when `allowed`
  // is non-empty, unknown keys with a "did you mean". `required` keys that
  // are missing are reported at f's key. Returns nullopt when f is not a mapping.
  std::optional<std::vector<Field>> map(const Field& f, const std::vector<std::string>& allowed = {},
                                        const std::vector<std::string>& required = {});
  // The elements of a list ("path[i]").
  std::optional<std::vector<Field>> list(const Field& f);

  std::optional<std::string> string(const Field& f);  // any scalar, as written
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
  std::string file_;
  Diagnostics& diags_;
};

}  // namespace gantry::pipeline
