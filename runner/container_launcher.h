// The seam between the runner and the containers it starts (stages, build
// steps, gantry exec, gantry debug): the runner never calls executor::run()
// itself, it asks a ContainerLauncher. In the gantry binary that is the
// ExecutorLauncher (a real container, executor/container.h); tests put a fake
// in its place (tests/support/fake_launcher.h: records each spec, plays back
// scripted exit codes and output lines, can hold containers until released)
// to test the scheduler, retries, the stage cache and promotion without root.
//
//   RunOptions options;
//   options.launcher = &fake;   // default: &executor_launcher()
#pragma once

#include <stop_token>

#include "common/error.h"
#include "executor/container.h"

namespace gantry::runner {

class ContainerLauncher {
 public:
  virtual ~ContainerLauncher() = default;
  // As executor::run(): the result for any outcome of the command (non-zero
  // exit, signal, timeout, OOM, cancellation); an Error (carrying a
  // StartFailure, see executor::start_failure_exit_code) when the container
  // could not be started. Called from several threads at once.
  virtual Result<executor::ContainerResult> run(const executor::ContainerSpec& spec, std::stop_token stop) = 0;
};

// The real one: executor::run().
class ExecutorLauncher final : public ContainerLauncher {
 public:
  Result<executor::ContainerResult> run(const executor::ContainerSpec& spec, std::stop_token stop) override;
};

// The process's ExecutorLauncher (the default of every launcher pointer).
ContainerLauncher& executor_launcher();

}  // namespace gantry::runner
