// Reading and checking a .gantry.yml. Every problem of the file is reported
// at once, each as "file:line:col: key: message", e.g.
//   .gantry.yml:7:7: images.app.steps[1].rnu: unknown key 'rnu' (did you mean 'run'?)
// Checks happen in three passes:
//   1. load_pipeline: YAML syntax, keys, types, required keys, duplicates,
//      cycles between images and between stage needs, unknown needs and
//      environments (everything the file alone can tell);
//   2. validate_refs: a `from` or stage `image` that is neither an image of
//      the file nor an image the runner knows (a callback);
//   3. validate_against_tree: copy sources absent from the commit.
// load_pipeline_from_git does 1 and 3 on a commit.
#pragma once

#include <expected>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "pipeline/git_repo.h"
#include "pipeline/pipeline.h"

namespace gantry::pipeline {

struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based; 0 when the problem has no position (e.g. a missing file)
  int column = 0;
  std::string key;      // dotted path of the key: "stages.smoke.needs[1]"; may be empty
  std::string message;  // what is wrong and what was expected
  // "file:line:col: key: message" (parts that are empty/0 are left out).
  std::string str() const;
};

class Diagnostics {
 public:
  void add(Diagnostic d) { items_.push_back(std::move(d)); }
  void add(const std::string& file, SourcePos pos, std::string key, std::string message);
  void append(const Diagnostics& other);
  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  const std::vector<Diagnostic>& items() const { return items_; }
  // Sorted by line, then column: the order they are printed.
  void sort();
  // All of them, one per line.
  std::string str() const;
  // An invalid_input Error whose message is "N problem(s) in FILE:\n" + str().
  Error to_error() const;
  operator Error() const { return to_error(); }  // so TRY works on LoadResult

 private:
  std::vector<Diagnostic> items_;
};

using LoadResult = std::expected<Pipeline, Diagnostics>;

// The tree's files matching an `include:` entry: `pattern` is a tree path or
// glob (already joined to the pipeline's directory); sorted by path; empty
// when nothing matches.
using IncludeLookup = std::function<Result<std::vector<IncludedFile>>(const std::string& pattern)>;

// How deep includes may nest: the pipeline file's includes are depth 1.
inline constexpr int kMaxIncludeDepth = 4;

// Parses and checks the file's text. `file_name` is its path in the tree
// (".gantry.yml", "examples/hello/.gantry.yml"): it is used in messages and
// its directory is the base of copy sources, stage inputs and includes.
// `includes` reads the files `include:` names (without it, an `include:` is
// an error: a bare text has no tree to include from).
LoadResult load_pipeline(const std::string& yaml_text, const std::string& file_name,
                         const IncludeLookup& includes = {});

// Pass 2: `image_exists(ref)` says whether the runner can provide a base
// image (in the store, or pullable). Called for every `from` and stage
// `image` that is neither "scratch" nor an image of the file.
Diagnostics validate_refs(const Pipeline& pipeline,
                          const std::function<bool(const std::string& ref)>& image_exists);

// Pass 3: every copy source (path or glob) must match something in the
// commit's tree. Reported at the copy step's line.
Diagnostics validate_against_tree(const Pipeline& pipeline, GitRepo& repo, const Commit& commit);

// Reads `path` from the commit's tree, then passes 1 and 3. A file absent
// from the commit is not_found "no PATH in commit SHORT (REV)"; diagnostics
// come back as one invalid_input error listing them all.
Result<Pipeline> load_pipeline_from_git(GitRepo& repo, const Commit& commit,
                                        const std::string& path = ".gantry.yml");

// The closest candidate within a small edit distance, or "" (for "did you mean").
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace gantry::pipeline
