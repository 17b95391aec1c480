// A ContainerLauncher (runner/container_launcher.h) that starts nothing: it
// records every spec it is given and plays back what the test scripted for
// it (exit code, output lines, a start failure, files in a kept upper dir),
// so the runner's logic (scheduler, fail fast, retries, the stage cache,
// promotion) is tested in-process, without root, in milliseconds.
//
//   FakeLauncher fake;
//   fake.on_stage("test", {.exit_code = 3, .out = {"boom"}});     // every attempt
//   fake.on_stage("flaky", {{.exit_code = 1}, {.exit_code = 0}});  // attempt 1, then 2 (and after)
//   fake.on_stage("a", {.hold = "pair"});                          // held until released
//   ... run_pipeline(store, {.launcher = &fake, ...}) ...
//   EXPECT_EQ(fake.calls_of("test").size(), 1u);
//
// Parallelism without timing: a container whose script says `hold = "G"`
// waits until the test (or another thread) calls release("G"), or until
// `release_when_in_flight` containers are running at once. in_flight_peak()
// then proves (or disproves) that two containers overlapped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runner/container_launcher.h"
#include "tests/support/fake_clock.h"

namespace gantry::testing {

struct FakeContainer {
  int exit_code = 0;
  std::vector<std::string> out;  // lines written to the spec's output, on stdout
  std::vector<std::string> err;  // then these on stderr
  // The container never starts: run() returns this start failure (its
  // message names it).
  std::optional<executor::StartFailure> start_failure;
  bool timed_out = false;
  bool oom_killed = false;
  // With spec.keep_upper: files (path relative to the upper -> content)
  // written into the upper dir handed back, as the command would have.
  std::map<std::string, std::string> upper_files;
  // Waits in run() until release(hold), or until `release_when_in_flight`
  // containers (this one included) have been in run() at once (a latch: the
  // first to leave does not strand the others); a triggered stop token ends
  // the wait with a cancelled result. "" and 0 = no wait.
  std::string hold;
  int release_when_in_flight = 0;
  // How long the command "runs": FakeLauncher::clock (when set) is advanced
  // by this much, so durations are exact.
  std::chrono::milliseconds takes{0};
};

// What run() was called with (the output sink left out).
struct FakeCall {
  std::string stage;     // GANTRY_STAGE of the spec's env ("" for a build step)
  std::string command;   // argv joined by spaces
  executor::ContainerSpec spec;
  int in_flight = 0;     // containers in run() when this one started (itself included)
};

class FakeLauncher final : public runner::ContainerLauncher {
 public:
  // Scripts for a stage (matched by GANTRY_STAGE) or a build step (matched
  // when its argv joined by spaces contains `command_part`): the n-th call
  // plays the n-th entry, the last entry repeats. Unscripted: exit 0.
  // Scripting the same stage or command again replaces its script.
  void on_stage(const std::string& stage, std::vector<FakeContainer> attempts);
  void on_stage(const std::string& stage, FakeContainer every);
  void on_command(const std::string& command_part, std::vector<FakeContainer> attempts);

  void release(const std::string& hold);
  // How long a held container waits before it gives up (a test bug: it
  // then fails with a start failure saying so).
  std::chrono::milliseconds hold_timeout{10000};
  // Advanced by each container's `takes` (optional).
  FakeClock* clock = nullptr;

  Result<executor::ContainerResult> run(const executor::ContainerSpec& spec, std::stop_token stop) override;

  std::vector<FakeCall> calls() const;
  std::vector<FakeCall> calls_of(const std::string& stage) const;
  int in_flight_peak() const;
  // "start NAME" and "end NAME" (NAME: the stage, else the command) in the
  // order they happened: ordering checks without clocks.
  std::vector<std::string> events() const;

 private:
  FakeContainer script_for(const std::string& stage, const std::string& command);

  mutable std::mutex mutex_;
  std::condition_variable_any changed_;  // waits with a stop_token
  std::map<std::string, std::vector<FakeContainer>> stage_scripts_;
  std::vector<std::pair<std::string, std::vector<FakeContainer>>> command_scripts_;
  std::map<std::string, std::size_t> played_;  // script key -> calls so far
  std::set<std::string> released_;
  std::vector<FakeCall> calls_;
  std::vector<std::string> events_;
  int in_flight_ = 0;
  int peak_ = 0;
  int next_id_ = 0;
};

}  // namespace gantry::testing
