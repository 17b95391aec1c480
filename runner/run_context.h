// What every stage of one run shares: the store, the commit and its pipeline,
// the images (exact digests), the resolved secrets and their masker, the
// workspaces, the reporter, and the results so far. Private to runner/run_*
// and runner/stage_*.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include "cache/image_store.h"
#include "cache/metadata.h"
#include "cache/store.h"
#include "pipeline/git_repo.h"
#include "pipeline/pipeline.h"
#include "attest/signing_key.h"
#include "runner/container_launcher.h"
#include "runner/project_policy.h"
#include "runner/reporter.h"
#include "runner/runner_config.h"
#include "runner/secret_mask.h"
#include "runner/secret_sources.h"
#include "runner/stage_workspace.h"

namespace gantry::runner {

// An image a stage runs on, pinned to its manifest digest.
struct StageImage {
  std::string name;  // as the stage names it (an image of the file or a store reference)
  Digest digest;
  cache::Image image;
  bool built = true;  // from the pipeline file
};

struct RunContext {
  cache::Store& store;
  pipeline::GitRepo& repo;
  pipeline::Commit commit;
  pipeline::Pipeline pipeline;
  std::string run_id;
  std::string run_dir;  // <store>/runs/<id>
  ProjectAccess access;  // the project the runner derives for the repository and what it allows it
  // Attestations (run_attest.h): the key that signs them (null: unsigned),
  // the revision as given (provenance's ref), the runner config (`require:`
  // keys and rules), the stages already attested by this invocation.
  std::shared_ptr<const attest::SigningKey> signing_key;
  std::string rev;
  RunnerConfig runner_config;
  std::set<std::string> attested_stages;
  std::string project;   // where the run, its environments and history are kept (run_project)
  std::map<std::string, StageImage> images;
  std::uint64_t max_secret_bytes = 64 * 1024;  // the runner's max_secret_size
  // Stage name -> its secrets. Values live only in memory.
  std::map<std::string, std::vector<ResolvedSecret>> secrets;
  SecretMasker masker;
  std::unique_ptr<WorkspaceCache> workspaces;
  Reporter& reporter;
  bool no_cache = false;
  unsigned jobs = 2;
  std::string init_binary;  // gantry-init; "" = next to this program
  ContainerLauncher* launcher = &executor_launcher();  // starts every stage container
  std::stop_token stop;
  // The runner's default limits of every stage container (a stage's own
  // `limits:` go over them; runner/container_limits.h).
  DefaultLimits default_limits = RunnerConfig::built_in_limits();

  // Wall time per phase of this invocation (see cache::RunRecord::phase_ms).
  std::vector<std::pair<std::string, std::int64_t>> phase_ms;
  std::int64_t phase_started_ms = 0;
  // Ends the current phase (if any) and starts `next` ("" = none).
  void next_phase(const std::string& next);
  std::string current_phase;

  std::mutex mutex;  // guards `results`
  std::map<std::string, cache::StageResult> results;  // every stage result of the run so far
};

}  // namespace gantry::runner
