// The filesystem-fault seam (common/fault_injection.h) under a build: a
// `gantry run` that builds an image (a run step through the FakeLauncher,
// its upper committed as a layer, the image committed and recorded) and runs
// a stage on it fails at every durable-write point in turn, N = 1, 2, ...
// until it completes without reaching N. After each: the store is fsck clean
// (no tag, layer or step-cache entry pointing at what was not written) and
// the next run, on the store opened again, builds and passes. The points
// (about 80, each a fresh store and two runs, bound by fsync) are shared out
// over three tests (N = shard + 1, shard + 4, ...) that ctest runs in parallel.
#include <gtest/gtest.h>

#include <set>

#include "cache/store_maintenance.h"
#include "common/fault_injection.h"
#include "tests/runner/fast/fake_run_fixture.h"

namespace gantry::testing {
namespace {

constexpr std::uint64_t kShards = 3;

class BuildFaultPoints : public FakeRunFixture, public ::testing::WithParamInterface<std::uint64_t> {
 protected:
  // A fresh store at dir_/name holding the base image, as SetUp() makes it.
  void fresh_store(const std::string& name) {
    reopen(name);
    make_image("busybox", {{"bin/sh", "not a shell\n"}, {"etc/os-release", "fake\n"}});
  }
  void reopen(const std::string& name) {
    store_.reset();
    auto opened = cache::Store::open(dir_ / name);
    ASSERT_TRUE(opened) << opened.error().message();
    store_ = std::move(*opened);
    store_->set_clock(clock_);
  }
  void expect_fsck_clean(const std::string& when) {
    auto report = cache::check_store(*store_);
    ASSERT_TRUE(report) << when << ": " << report.error().message();
    std::string faults;
    for (const auto& f : report->faults) faults += f + "\n";
    EXPECT_TRUE(report->ok()) << when << ":\n" << faults;
  }
};

TEST_P(BuildFaultPoints, ARunThatBuilds_FailsAtEveryDurableWriteInTurn_TheStoreStaysConsistent) {
  fault::ScopedFaults scoped;
  commit({{".gantry.yml",
           "images:\n  app:\n    from: busybox\n    steps:\n      - run: make install\n"
           "stages:\n  unit: {image: app, run: /app/bin/test}\n"}});
  fake_.on_command("make install", {FakeContainer{.upper_files = {{"app/bin/test", "#!/bin/sh\n"}}}});
  std::set<std::string> hit;  // the kinds of point failed

  std::uint64_t points = 0;
  for (std::uint64_t n = GetParam() + 1; n <= 1000; n += kShards) {
    SCOPED_TRACE("fault at point " + std::to_string(n));
    std::string name = "store-" + std::to_string(n);
    fresh_store(name);
    fault::arm(n);
    auto failed = run();
    auto fired = fault::fired();
    std::uint64_t seen = fault::points_seen();
    fault::disarm();
    if (!fired) {
      ASSERT_TRUE(failed) << failed.error().message();
      EXPECT_EQ(failed->status, cache::RunStatus::passed) << failed->error;
      points = seen;
      break;
    }
    hit.insert(fired->substr(0, fired->find(" /")));
    expect_fsck_clean("after the run that failed");
    reopen(name);  // the next command
    auto next = run();
    ASSERT_TRUE(next) << next.error().message();
    EXPECT_EQ(next->status, cache::RunStatus::passed) << next->error;
    EXPECT_FALSE(digest_of(*next, "app").empty());
    expect_fsck_clean("after the next run");
    store_.reset();
    ASSERT_EQ(run_command({"rm", "-rf", dir_ / name}).exit_code, 0);
  }
  EXPECT_GE(points, 40u) << "a build and a run pass fewer durable writes than expected";
  EXPECT_GE(hit.size(), 3u) << "this shard failed too few kinds of durable write";
}

INSTANTIATE_TEST_SUITE_P(Shards, BuildFaultPoints, ::testing::Range<std::uint64_t>(0, kShards));

}  // namespace
}  // namespace gantry::testing
