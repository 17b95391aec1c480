// gantry debug RUN [--image IMAGE --step N] -- COMMAND...: runs a command in a fresh
// container of an image as it was just before a step of a run (by default
// the step the run's build failed on: the state it failed on). The state is
// rebuilt from the step cache alone (every earlier step of that run passed,
// so each is cached); nothing is built, tagged or kept: the container's
// writes go with it.
#include <iostream>
#include <memory>

#include "cache/layer_unpacker.h"
#include "cache/metadata.h"
#include "cache/store.h"
#include "executor/container.h"
#include "pipeline/loader.h"
#include "runner/build.h"
#include "runner/build_step.h"
#include "runner/cli.h"
#include "runner/container_launcher.h"
#include "runner/run_session.h"

namespace gantry::runner {

namespace {

struct DebugFlags {
  std::string run;
  std::string image;
  int step = 0;
  std::vector<std::string> command;
};

// The run's failed build step, as (image, 1-based index).
Result<std::pair<std::string, int>> failed_step_of(const cache::RunRecord& run) {
  for (const auto& b : run.build_steps)
    if (b.status == cache::StepStatus::failed) return std::pair{b.image, b.index};
  return fail(ErrorKind::usage, "run " + run.id + " has no failed build step: name the image and the step " +
                                    "(gantry debug " + run.id + " --image IMAGE --step N -- COMMAND)");
}

Result<int> run_in_state(cache::Store& store, const std::vector<cache::LayerDescriptor>& layers,
                         const pipeline::BuildState& state, const std::vector<std::string>& command) {
  executor::ContainerSpec spec;
  for (const auto& layer : layers)
    spec.lowerdirs.push_back(TRY_CTX(cache::ensure_unpacked(store, layer), "unpacking layer " + layer.digest.str()));
  std::optional<TempDir> empty_root;
  if (spec.lowerdirs.empty()) {  // FROM scratch: overlayfs needs one lowerdir
    empty_root = TRY(store.make_temp_dir("scratch-"));
    spec.lowerdirs.push_back(empty_root->path());
  }
  spec.argv = command;
  spec.env = env_lines(state.env);
  spec.workdir = state.workdir.empty() ? "/" : state.workdir;
  spec.user = state.user;
  spec.network = executor::NetworkMode::none;
  spec.work_root = store.tmp_dir();
  spec.output = [](executor::Stream stream, std::string_view line) {
    (stream == executor::Stream::out ? std::cout : std::cerr) << line << std::endl;
  };
  auto result = TRY_CTX(executor_launcher().run(spec, {}), "starting the container");
  return result.exit_code;
}

int cmd_debug(const GlobalOptions& global, const DebugFlags& f) {
  auto opened = cache::Store::open(global.store_dir);
  if (!opened) return report_error(opened.error());
  cache::Store& store = **opened;
  auto body = [&]() -> Result<int> {
    cache::Metadata& meta = store.metadata();
    auto run = TRY(meta.find_run(f.run));
    std::string image = f.image;
    int step = f.step;
    if (image.empty() && step == 0) std::tie(image, step) = TRY(failed_step_of(run));
    if (image.empty() || step == 0) return fail(ErrorKind::usage, "--image and --step go together");
    auto repo = TRY(open_run_repo(store, run));
    auto commit = TRY(repo.resolve(run.commit));
    auto pipeline = TRY(pipeline::load_pipeline_from_git(repo, commit, run.pipeline_file));
    const auto* def = pipeline.find_image(image);
    if (!def) return fail(ErrorKind::not_found, "no image '" + image + "' in " + run.pipeline_file + " of run " + run.id);
    const int steps = static_cast<int>(def->steps.size());
    if (step < 1 || step > steps + 1)
      return fail(ErrorKind::usage, "image " + image + " has steps #1 to #" + std::to_string(steps) + " (#" +
                                        std::to_string(steps + 1) + ": after the last); got #" + std::to_string(step));
    std::cerr << "gantry: " << image << " as it was before step #" << step
              << (step <= steps ? " (" + describe_step(def->steps[static_cast<std::size_t>(step - 1)]) + ")" : "")
              << " in run " << run.id << " (commit " << commit.short_id << "); a fresh container, nothing is kept"
              << std::endl;

    auto quiet = make_reporter(true);
    std::optional<int> exit_code;
    BuildRequest request{.store = store, .repo = repo, .commit = commit, .pipeline = pipeline,
                         .images = {image}, .reporter = *quiet, .jobs = 1, .tag = false};
    request.project = run.project;  // `from:` resolves as it did in the run
    request.cached_only = true;
    request.stop_image = image;
    request.stop_before = step;
    request.at_stop = [&](const std::vector<cache::LayerDescriptor>& layers, const pipeline::BuildState& state) -> Status {
      exit_code = TRY(run_in_state(store, layers, state, f.command));
      return {};
    };
    auto built = build_images(request);
    quiet->finish();
    if (!built) return fail(std::move(built).error().context("rebuilding the state of " + image + " before step #" +
                                                             std::to_string(step)));
    if (!exit_code) return fail(ErrorKind::internal, "image " + image + " was not reached");
    return *exit_code;
  };
  auto code = body();
  if (!code) {
    if (code.error().kind() == ErrorKind::internal || code.error().kind() == ErrorKind::usage)
      return report_error(code.error());
    std::cerr << "gantry: " << code.error().message() << "\n";
    return 125;  // as gantry exec: the container could not be had
  }
  return *code;
}

}  // namespace

void add_debug_commands(Cli& cli) {
  auto f = std::make_shared<DebugFlags>();
  auto* cmd = cli.app.add_subcommand(
      "debug", "Run a command in a fresh container of an image as it was just before a build step of a run\n"
               "(default: the step the run's build failed on). Rebuilt from the step cache; nothing is kept.\n"
               "Exit: the command's exit code; 125 when the state or the container could not be had.");
  cmd->add_option("run", f->run, "Run id (or any unique part of it)")->required();
  cmd->add_option("--image", f->image, "Image of the run's pipeline (default: the image whose build failed)");
  cmd->add_option("--step", f->step, "1-based step number: the state before it (default: the failed step)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("command", f->command, "The command and its arguments, after -- (-- sh -c 'cat config.log')")
      ->required();
  cmd->callback([&global = cli.global, &action = cli.action, f] {
    action = [&global, f] { return cmd_debug(global, *f); };
  });
}

}  // namespace gantry::runner
