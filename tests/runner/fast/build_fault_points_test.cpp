// The filesystem-fault seam (common/fault_injection.h) under a build: a
// `gantry run` that builds an image (a run step through the FakeLauncher,
// its upper committed as a layer, the image committed and recorded) and runs
// a stage on it fails at every durable-write point in turn, N = 1, 2, ...
// until it completes without reaching N. After each: the store is fsck clean
// (no tag, layer or step-cache entry pointing at what was not written) and
// the next run, on the store opened again, builds and passes.
#include <gtest/gtest.h>

#include <set>

#include "cache/store_maintenance.h"
#include "common/fault_injection.h"
#include "tests/runner/fast/fake_run_fixture.h"

namespace gantry::testing {
namespace {

class BuildFaultPoints : public FakeRunFixture {
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

TEST_F(BuildFaultPoints, ARunThatBuilds_FailsAtEveryDurableWriteInTurn_TheStoreStaysConsistent) {
  fault::ScopedFaults scoped;
  commit({{".gantry.yml",
           "images:\n  app:\n    from: busybox\n    steps:\n      - run: make install\n"
           "stages:\n  unit: {image: app, run: /app/bin/test}\n"}});
  fake_.on_command("make install", {FakeContainer{.upper_files = {{"app/bin/test", "#!/bin/sh\n"}}}});

  std::set<std::string> ops_hit;
  std::uint64_t points = 0;
  for (std::uint64_t n = 1; n <= 1000; ++n) {
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
      EXPECT_EQ(failed->status, "passed") << failed->error;
      points = seen;
      break;
    }
    ops_hit.insert(fired->substr(0, fired->find(" /")));
    expect_fsck_clean("after the run that failed");
    reopen(name);  // the next command
    auto next = run();
    ASSERT_TRUE(next) << next.error().message();
    EXPECT_EQ(next->status, "passed") << next->error;
    EXPECT_FALSE(digest_of(*next, "app").empty());
    expect_fsck_clean("after the next run");
    store_.reset();
    ASSERT_EQ(run_command({"rm", "-rf", dir_ / name}).exit_code, 0);
  }
  EXPECT_GE(points, 20u) << "a build and a run pass fewer durable writes than expected";
  for (const char* op : {"write", "fsync", "rename", "fsync directory", "commit"})
    EXPECT_TRUE(ops_hit.count(op)) << "no " << op << " point in a build";
}

}  // namespace
}  // namespace gantry::testing
