// The files a stage sees at /workspace: written from the commit's git objects
// (never from a work tree) into a directory under the store's scratch space,
// then bind-mounted read-only. The root is the pipeline file's directory
// (`base_dir`), so a pipeline in examples/hello/ sees that folder at
// /workspace; `inputs` narrow it to the matching paths (parents included).
//
// The identity of a workspace (what the stage cache keys on) costs no file
// reads: the git id of the base tree when it is whole, otherwise the sorted
// (path, mode, oid) of every entry the inputs match.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "nlohmann/json.hpp"
#include "pipeline/git_repo.h"

namespace gantry::runner {

struct WorkspaceView {
  std::vector<std::string> inputs;  // tree paths/globs; empty = the whole base tree
  // What the stage key records: {"tree": oid} or {"entries": [[path, mode, oid], ...]}.
  nlohmann::json identity;
};

// Creates workspace directories lazily and shares one per distinct inputs set
// for the whole run (they are read-only to every stage). Thread-safe.
class WorkspaceCache {
 public:
  WorkspaceCache(pipeline::GitRepo& repo, pipeline::Commit commit, std::string base_dir, std::string scratch_dir)
      : repo_(repo), commit_(std::move(commit)), base_dir_(std::move(base_dir)), scratch_(std::move(scratch_dir)) {}

  // The identity of what a stage with these inputs sees (no files written).
  Result<WorkspaceView> view(const std::vector<std::string>& tree_inputs);
  // The directory to bind at /workspace (written on first use).
  Result<std::string> materialize(const std::vector<std::string>& tree_inputs);

 private:
  Result<std::vector<pipeline::TreeEntry>> entries(const std::vector<std::string>& tree_inputs);
  Status write_tree(const std::string& dir, const std::vector<pipeline::TreeEntry>& entries);
  std::string relative(const std::string& tree_path) const;

  pipeline::GitRepo& repo_;
  pipeline::Commit commit_;
  std::string base_dir_;
  std::string scratch_;
  std::mutex mutex_;
  std::map<std::vector<std::string>, TempDir> dirs_;
};

}  // namespace gantry::runner
