// Private to pipeline/: the pieces load_pipeline is made of. Each reports its
// problems through the YamlReader and fills what it could read.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pipeline/pipeline.h"
#include "pipeline/yaml_reader.h"

namespace gantry::pipeline {

// One YAML file of the pipeline: the pipeline file (depth 0) or one it
// includes.
struct Document {
  std::string file;  // path in the tree
  YAML::Node root;
  int depth = 0;
};
// `main` and every file it includes (include.cpp), depth first in the order
// written, each file once; `included` gets each included file (text
// cleared). Problems (syntax, a cycle, nesting deeper than kMaxIncludeDepth,
// a pattern matching nothing or leaving the repository) go to `diags`.
std::vector<Document> collect_documents(const Document& main, const std::string& base_dir,
                                        const IncludeLookup& lookup, Diagnostics& diags,
                                        std::vector<IncludedFile>& included);

// `environments:` (nullptr = absent: test, staging, production). Appends to
// p.environments (several files may each declare some).
void parse_environments(YamlReader& r, const Field* field, Pipeline& p);
// `images:`; `image_names` are every image key of the pipeline's files (for
// `from:` naming an image of the pipeline).
void parse_images(YamlReader& r, const Field& field, Pipeline& p, const std::vector<std::string>& image_names);
// One image's `steps:` list.
std::vector<Step> parse_steps(YamlReader& r, const Field& field, const std::string& base_dir);
// `stages:`; `stage_names` are every stage key of the pipeline's files (for needs),
// environments and images must already be parsed.
void parse_stages(YamlReader& r, const Field& field, Pipeline& p, const std::vector<std::string>& stage_names);
// " is also defined in FILE:L:C (...)" when `file` is another file than the
// reader's (a clash between files merged by include:); "" otherwise.
std::string also_in(const YamlReader& r, const std::string& file, SourcePos pos);
// A stage's `services:` (a list of mappings or image strings).
void parse_services(YamlReader& r, const Field& f, const Pipeline& p, StageDef& stage);
// `caches: {NAME: /path, NAME: {path: /path, sharing: locked|shared|private}}`.
std::vector<CacheMount> parse_caches(YamlReader& r, const Field& f);

// A stage's `matrix:`: its variables with their values (in the order
// written) and the combinations `exclude:` removes.
inline constexpr std::size_t kMaxMatrixCells = 256;
struct MatrixDef {
  std::vector<std::pair<std::string, std::vector<std::string>>> vars;
  std::vector<EnvList> excludes;  // each a subset of VAR=value pairs
  SourcePos pos;                  // of the `matrix` key
  std::string path;               // "stages.unit.matrix"
};
// nullopt after reporting: a non-list variable, an empty list, a bad
// exclude, more than kMaxMatrixCells combinations.
std::optional<MatrixDef> parse_matrix(YamlReader& r, const Field& f);
// The stage's cells (name "unit [CC=gcc, OPT=-O0]", the variables appended to
// env, matrix_of/matrix set); reports a matrix that exclude empties.
std::vector<StageDef> expand_matrix(YamlReader& r, const StageDef& stage, const MatrixDef& m);
// `needs: unit` where unit is a matrix stage → every cell of unit.
void expand_matrix_needs(Pipeline& p);
// Cycles between images and between stage needs; needs on later environments.
void check_graphs(YamlReader& r, const Pipeline& p);
// `require: passed:` names stages that exist and run before that promotion.
void check_requirements(YamlReader& r, const Pipeline& p);

// A key starting with '.': a template for `<<:` merges (at the top level,
// under images: and under stages:), never an image, stage or environment.
bool is_template_key(const std::string& key);
// The fields whose key is no template.
std::optional<std::vector<Field>> without_templates(std::optional<std::vector<Field>> fields);

// base_dir joined with a path as written, '.' and '..' resolved; a leading
// '/' means the repository root. nullopt when it leaves the repository.
std::optional<std::string> normalize_tree_path(const std::string& base_dir, const std::string& path);

// Whether `ref` has the shape of an image reference: name[:tag][@sha256:hex],
// name being '/'-separated lowercase components with an optional registry
// host[:port] first (127.0.0.1:5000/team/base:1.2).
bool plausible_image_ref(const std::string& ref);

}  // namespace gantry::pipeline
