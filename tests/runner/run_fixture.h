// A fixture for `gantry run` tests: the build fixture's store (with busybox)
// and git repository, plus helpers that run the pipeline and read the run
// record, the environments and the history as JSON.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/runner/build_fixture.h"

namespace gantry::testing {

class RunFixture : public BuildFixture {
 protected:
  // gantry run REPO --json ARGS... (env: extra "K=V" for the gantry process).
  CommandResult run(const std::vector<std::string>& args = {}, const std::vector<std::string>& env = {});
  // As run(), parsed; fails the test when the output is not JSON.
  nlohmann::json run_json(const std::vector<std::string>& args = {}, const std::vector<std::string>& env = {},
                          int expected_exit = 0);
  nlohmann::json gantry_json(const std::vector<std::string>& args, int expected_exit = 0);

  // Writes `yaml` as the runner's configuration (runner_config.h) in the
  // test's dir; every later run()/gantry_json() passes it (--runner-config).
  void use_runner_config(const std::string& yaml);
  // The global flags that come before the command (--runner-config FILE).
  std::vector<std::string> global_flags() const;

  static const nlohmann::json& stage(const nlohmann::json& run, const std::string& name);
  // environment -> digest of `image` (gantry env ls IMAGE --json).
  std::map<std::string, std::string> environments(const std::string& image);
  // The number of runs recorded (gantry history --json).
  std::size_t run_count();

  std::string runner_config_;  // "" = none given
};

}  // namespace gantry::testing
