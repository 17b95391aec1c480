// Building the images of a pipeline, layer by layer, with the step cache.
//
//   auto result = build_images({.store = store, .repo = repo, .commit = commit,
//                               .pipeline = pipeline, .reporter = reporter});
//
// Images are built in dependency order (an image after the image of the file
// it is `from`); independent images build in parallel (up to `jobs`). For
// each step the key (cache/step_key.h) is computed from the parent key, the
// step and the effective env/workdir/user/network (and for copy, the git ids
// of its sources): a hit reuses the recorded layer and config change with no
// container; a miss runs the step (run: a fresh container over the current
// layers whose upper dir becomes the layer; copy: a layer written straight
// from git objects; env/workdir/user: config only) and records it. The final
// image is committed and tagged NAME:<commit short id> and NAME:latest.
// A failing step stops the build with an error naming the image, the step
// index and its command; nothing is cached for it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/layer_writer.h"
#include "cache/metadata.h"
#include "cache/step_cache.h"
#include "cache/store.h"
#include "common/digest.h"
#include "common/error.h"
#include "pipeline/git_repo.h"
#include "pipeline/pipeline.h"
#include "runner/container_launcher.h"
#include "runner/reporter.h"
#include "runner/runner_config.h"

namespace gantry::runner {

// Named counters of one build: tests assert on them rather than on timing.
struct BuildCounters {
  std::atomic<std::uint64_t> containers_started{0};
  std::atomic<std::uint64_t> layers_written{0};   // layer blobs produced by this build
  std::atomic<std::uint64_t> cache_hits{0};       // steps reused from the step cache
  std::atomic<std::uint64_t> cache_misses{0};     // steps executed
  std::atomic<std::uint64_t> bytes_written{0};    // compressed bytes of the layers written
  std::atomic<std::uint64_t> images_built{0};     // images committed (new or not)

  nlohmann::json to_json() const;
};

struct StepOutcome {
  int index = 0;            // 0-based
  std::string kind;         // "run", "copy", "env", "workdir", "user"
  std::string description;  // "run: make", "copy src/ /app/src/"
  Digest key;
  bool cached = false;
  double seconds = 0;
  std::optional<Digest> layer;  // the layer blob (none for config-only steps)
  std::string log_path;         // the step's output, when BuildRequest::log_run_id is set and it ran
  // A dry run (BuildRequest::dry_run): why the step would miss ("" = it would hit).
  std::string would_miss;
};

struct ImageOutcome {
  std::string name;
  Digest digest;                  // manifest digest
  std::vector<std::string> tags;  // "app:0123456789ab", "app:latest"
  std::vector<StepOutcome> steps;
  std::vector<Digest> layers;     // every layer blob of the image, bottom to top
  // --explain: the first step that missed and what changed since the
  // nearest earlier build of this image (empty when every step hit).
  std::string explain;
  bool would_build = false;  // a dry run: a step would run (digest and layers are then unknown)
};

struct BuildResult {
  std::vector<ImageOutcome> images;  // in build order
  nlohmann::json counters;           // BuildCounters::to_json()
  bool dry_run = false;              // a plan: steps say would_miss; would_build images have no digest
};

struct BuildRequest {
  cache::Store& store;
  pipeline::GitRepo& repo;
  pipeline::Commit commit;
  pipeline::Pipeline pipeline;
  std::vector<std::string> images;  // names to build (with the images they are from); empty = all
  bool no_cache = false;            // run every step; results are still recorded
  bool explain = false;             // fill ImageOutcome::explain
  // Decide hit or miss for every step and say why, but run nothing: no
  // container, no layer, no image, no tag, nothing recorded (gantry build --plan).
  bool dry_run = false;
  Reporter& reporter;
  int jobs = 2;                     // images built at once
  bool tag = true;                  // tag NAME:<short> and NAME:latest
  std::string init_binary;  // gantry-init; "" = next to this program
  // The limits of every run step's container (the runner's; steps have no
  // `limits:` of their own).
  DefaultLimits limits = RunnerConfig::built_in_limits();
  // Starts every run step's container (container_launcher.h).
  ContainerLauncher* launcher = &executor_launcher();
  // Filled as the build goes (also when it fails); optional.
  BuildCounters* counters = nullptr;
  // When set, the output of every run step that runs is kept in the run's
  // build-step log (StorePaths::build_step_log), as a stage's log is.
  std::string log_run_id;
  // Called as each step ends: passed (ran or cached) or failed. Optional;
  // may be called from several threads (one per image built at once).
  std::function<void(const cache::BuildStepRecord&)> on_step;
  // A miss is an error instead of a step run (the state of an earlier build
  // is rebuilt from the step cache alone).
  bool cached_only = false;
  // Stop before step `stop_before` (1-based; steps + 1 = after the last) of
  // image `stop_image`: call `at_stop` with the layers and the build state
  // there, and end that image's build (no image, no tag).
  std::string stop_image;
  int stop_before = 0;
  std::function<Status(const std::vector<cache::LayerDescriptor>& layers, const pipeline::BuildState& state)>
      at_stop;
  // Asked on a step-cache miss: an entry pulled lazily from a shared cache
  // (its layer fetched now), or nullopt. Optional; an error is logged and the
  // step is built as a miss (the shared cache is an optimisation).
  std::function<Result<std::optional<cache::StepCacheEntry>>(const Digest& key)> deferred_cache;
  // The pipeline's project: the build tags are this project's, and `from:`
  // sees this project's build tags and the store-wide tags (cache::TagScope).
  std::string project;
  // The project whose cache directories run steps' `caches:` mount: the
  // runner's (ProjectAccess::project), never the file's `project:` key.
  std::string cache_project;
};

// Builds the requested images. Errors: an unknown image name (not_found), a
// base image missing from the store (not_found), a copy source absent from
// the commit (not_found), a failing step (the message names image, step and
// command). Reports steps as tasks (group = image name, name = "#N description");
// the caller prints the phase header.
Result<BuildResult> build_images(const BuildRequest& request);

// The --json document: {"images": [{"name", "digest", "tags", "steps":
// [step records]}], "counters": {...}}; a step record is build_step_json().
//   {"index" (1-based), "kind", "description", "key", "cached", "seconds",
//    "status" (passed | failed), "log" ("" when nothing ran), "detail"}
// (`gantry run --json` gives the same records per image).
nlohmann::json build_step_json(const cache::BuildStepRecord& step);
// The record of a finished step of `image`.
cache::BuildStepRecord build_step_record(const std::string& image, const StepOutcome& step);
nlohmann::json build_result_json(const BuildResult& result, bool with_explain = false);

}  // namespace gantry::runner
