// A fixture for fast tests of `gantry run` / promote / rollback: the runner
// called in-process on a temp store (holding a tiny "busybox" image made
// with the LayerWriter, no tarball, no root) and a real git repository, with
// a FakeLauncher in place of the executor. No container ever starts.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cache/metadata.h"
#include "cache/store.h"
#include "runner/reporter_recording.h"
#include "runner/run_pipeline.h"
#include "tests/support/fake_launcher.h"
#include "tests/support/test_support.h"

namespace gantry::testing {

class FakeRunFixture : public ::testing::Test {
 protected:
  void SetUp() override;

  // Writes the files (path relative to the repo -> content), commits
  // everything; returns the commit id.
  std::string commit(const std::map<std::string, std::string>& files, const std::string& message = "change");
  // A new image made of one layer holding `files` (path -> content),
  // tagged NAME:latest in the store; returns its manifest digest.
  std::string make_image(const std::string& name, const std::map<std::string, std::string>& files);

  // run_pipeline(): the repo at HEAD, the fake launcher, `jobs` at once;
  // then the clock moves on by a second.
  Result<cache::RunRecord> run(unsigned jobs = 2, bool no_cache = false);
  // As run(), failing the test on an error (not on a failed run).
  cache::RunRecord run_ok(unsigned jobs = 2, bool no_cache = false);
  Result<cache::RunRecord> promote(const std::string& image, const std::string& environment,
                                   const std::string& run_id = "");
  Result<cache::PromotionEvent> rollback(const std::string& image, const std::string& environment);
  // The number of runs recorded.
  std::size_t run_count();
  // environment -> digest of `image` (the environment pointers; "" = any image).
  std::map<std::string, std::string> environments(const std::string& image);

  static const cache::StageResult& stage(const cache::RunRecord& run, const std::string& name);
  static std::string digest_of(const cache::RunRecord& run, const std::string& image);

  ScratchDir dir_;
  std::string repo_;
  FakeClock clock_;  // the store's clock (before store_: it outlives it)
  std::unique_ptr<cache::Store> store_;
  FakeLauncher fake_;
  runner::RecordingReporter reporter_;
  runner::RunnerConfig runner_config_;
};

}  // namespace gantry::testing
