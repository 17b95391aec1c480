// The pieces `run` and `promote` share (private to runner/run_*.cpp):
// loading and checking the pipeline of a commit, pinning stage images,
// resolving secrets, and walking the environments from one index on.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cache/metadata.h"
#include "cache/step_cache.h"
#include "cache/store.h"
#include "pipeline/git_repo.h"
#include "pipeline/pipeline.h"
#include "runner/run_context.h"

namespace gantry::runner {

// The git mirror root of the store (for URLs), as `gantry build` uses it.
std::string git_mirror_root(const cache::Store& store);

// The repository a recorded run came from: its recorded location, else
// (moved or deleted) its remote URL, mirrored into the store.
Result<pipeline::GitRepo> open_run_repo(cache::Store& store, const cache::RunRecord& run);

// Loads the file from the commit and checks what the file alone cannot:
// images the store does not have (registry references, `from:` or stage
// `image:`, are pulled into the store first; `reporter` notes each pull),
// needs on a stage of a later environment, `export:` / `push:` the runner
// does not allow the project (project_policy.h). One invalid_input error
// listing every problem. images_here = false skips the images' checks (and
// pulls): a fleet run's images are the agents' business (fleet_submit.cpp).
Result<pipeline::Pipeline> load_checked_pipeline(cache::Store& store, pipeline::GitRepo& repo,
                                                 const pipeline::Commit& commit, const std::string& file,
                                                 const ProjectAccess& access, Reporter* reporter = nullptr,
                                                 bool images_here = true);

// The project a run of `p` from `repo` is recorded in (docs/run.md,
// "Projects"): the file's `project:`, else access.project (derived by the
// runner from the repository). A `project:` that names a project holding runs
// of another repository is refused at its file:line:col: a pipeline cannot
// move another repository's environments. A derived name shared with another
// repository is noted on `reporter` (set `project:` to separate them).
Result<std::string> run_project(cache::Store& store, const pipeline::Pipeline& p, const pipeline::GitRepo& repo,
                                const ProjectAccess& access, Reporter& reporter);

// The project a command means: `wanted` when given (not_found listing the
// known projects when no run or pointer has it), else the only project that
// has runs or pointers of `image` (any image when empty); "" when the store
// has none; invalid_input listing the candidates when several do.
Result<std::string> pick_project(cache::Store& store, const std::string& wanted, const std::string& image);

// The images promoted through the environments (see run_pipeline.h).
std::vector<std::string> promoted_images(const pipeline::Pipeline& pipeline);

// Loads an image by digest for a stage.
Result<StageImage> load_stage_image(cache::Store& store, const std::string& name, const Digest& digest, bool built);

// Resolves the secrets of the stages of environments [first, last) into
// ctx.secrets and ctx.masker, from the runner's sources for ctx.access.project
// (secret_sources.h). An error naming the stage, the secret, the project and
// the environment when one is missing, bound to other environments or too big.
Status resolve_secrets(RunContext& ctx, std::size_t first, std::size_t last);

// The index of the first manual gate at or after `from` (skipping `from`
// itself when `open_first` — a promote opens that gate), or the number of
// environments when there is none.
std::size_t next_manual_gate(const pipeline::Pipeline& pipeline, std::size_t from, bool open_first);

// What an environment gets with an image's digest (ctx.images[name]): its
// `push:` target (the same manifest bytes) and its `export:` file or layout,
// each a no-op when the environment has none. image_count is the number of
// promoted images (names `{image}`-less targets apart).
Status push_to_environment(RunContext& ctx, const pipeline::EnvironmentDef& env, const std::string& name,
                           std::size_t image_count);
Status export_to_environment(RunContext& ctx, const pipeline::EnvironmentDef& env, const std::string& name,
                             std::size_t image_count);

// A new run's record (status running) of `commit` of `repo` in `project`,
// under options.run_id or a new id (run_pipeline.cpp).
struct RunOptions;
cache::RunRecord new_run_record(const RunOptions& options, const pipeline::GitRepo& repo,
                                const pipeline::Commit& commit, const pipeline::Pipeline& pipeline,
                                const std::string& project, std::int64_t started_ms);

// The run's settings from the runner's configuration and the command line
// (limits, secrets' size, jobs: 0 = the number of cores, cache, init,
// launcher, stop).
void configure_run_context(RunContext& ctx, const RunnerConfig& config, unsigned jobs, bool no_cache,
                           const std::string& init_binary, ContainerLauncher* launcher, std::stop_token stop);

// Builds every image of the file (steps recorded with the run as they end;
// provenance attached, run_attest.h): image name -> digest (run_images.cpp).
// `shared_layer`: on a step whose layer this store lacks, tried before the
// shared step cache of --cache-from (a fleet agent: the layer from the
// agents' registry, fleet_job.cpp).
using StepLayerSource = std::function<Result<std::optional<cache::StepCacheEntry>>(const Digest& key)>;
Result<std::map<std::string, Digest>> build_run_images(RunContext& ctx, StepLayerSource shared_layer = {});
// ctx.images: the built images, then every stage and service image pinned to
// a digest (store references in the project's scope, registry references
// pulled); returns them as the run records them.
Result<std::vector<cache::RunImage>> pin_run_images(RunContext& ctx, const std::map<std::string, Digest>& built);

// The environment's `require:` for every promoted image, then push, pointer
// and export for each (a refusal is recorded and moves nothing).
Status promote_images(RunContext& ctx, const pipeline::EnvironmentDef& env, const std::vector<std::string>& promoted);

// Runs the environments from `first` on: stages, then promotion, until a
// manual gate (status "waiting"), a failure ("failed") or the end
// ("passed"). Updates `run` (status, waiting_environment, error) in meta.db.
Status advance(RunContext& ctx, cache::RunRecord& run, std::size_t first, bool open_first,
               const std::vector<std::string>& promoted);

}  // namespace gantry::runner
