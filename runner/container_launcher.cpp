#include "runner/container_launcher.h"

namespace gantry::runner {

Result<executor::ContainerResult> ExecutorLauncher::run(const executor::ContainerSpec& spec, std::stop_token stop) {
  return executor::run(spec, stop);
}

ContainerLauncher& executor_launcher() {
  static ExecutorLauncher launcher;
  return launcher;
}

}  // namespace gantry::runner
