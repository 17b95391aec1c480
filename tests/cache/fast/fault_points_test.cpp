// The filesystem-fault seam (common/fault_injection.h), in-process: an
// import fails at every durable-write point in turn (N = 1, 2, ... until it
// completes without reaching N), and after each the store is fsck clean, holds
// no half-written file, and the same import then works. (The gantry binary
// crashing at every point: tests/cache/crash_points_test.cpp.)
#include <gtest/gtest.h>

#include <set>

#include "cache/image_store.h"
#include "cache/oci_transfer.h"
#include "cache/store.h"
#include "cache/store_maintenance.h"
#include "common/fault_injection.h"
#include "common/file_util.h"
#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

using gantry::testing::ScratchDir;

// Every file the store keeps under tmp/ (half-written blobs, scratch dirs).
std::vector<std::string> leftovers(const std::string& store_dir) {
  auto names = list_dir(store_dir + "/tmp");
  return names ? *names : std::vector<std::string>{};
}

void expect_fsck_clean(Store& store, const std::string& when) {
  auto report = check_store(store);
  ASSERT_TRUE(report) << when << ": " << report.error().message();
  std::string faults;
  for (const auto& f : report->faults) faults += f + "\n";
  EXPECT_TRUE(report->ok()) << when << ":\n" << faults;
}

struct Sweep {
  std::uint64_t points = 0;  // durable-write points of one whole import
  std::set<std::string> ops_hit;
};

// Imports `source` as app:1 into a fresh store once per fault point.
Sweep fail_at_every_point(const std::string& work, const std::string& source) {
  fault::ScopedFaults scoped;
  Sweep sweep;
  Digest expected = Digest::of("");
  {
    auto store = testing::open_store(work + "/reference");
    auto d = import_image(*store, source, "app:1");
    EXPECT_TRUE(d) << d.error().message();
    if (d) expected = *d;
  }
  for (std::uint64_t n = 1;; ++n) {
    SCOPED_TRACE("fault at point " + std::to_string(n));
    std::string dir = work + "/n" + std::to_string(n);
    {
      auto store = testing::open_store(dir);
      fault::arm(n);
      auto imported = import_image(*store, source, "app:1");
      auto fired = fault::fired();
      std::uint64_t seen = fault::points_seen();
      fault::disarm();
      if (!fired) {  // the import passed fewer than n points: every one has been failed
        EXPECT_TRUE(imported) << imported.error().message();
        sweep.points = seen;
        break;
      }
      sweep.ops_hit.insert(fired->substr(0, fired->find(" /")));
      if (!imported) {
        EXPECT_NE(imported.error().message().find("injected fault " + std::to_string(n)), std::string::npos)
            << imported.error().message();
        EXPECT_FALSE(store->images().resolve("app:1")) << "a failed import left its tag";
      }
      expect_fsck_clean(*store, "after the failed import");
    }
    for (const auto& name : leftovers(dir)) {
      EXPECT_EQ(name.find("blob-"), std::string::npos) << "half-written blob left: " << name;
    }
    // The next command (a new process would open the store again) works.
    auto store = testing::open_store(dir);
    auto again = import_image(*store, source, "app:1");
    EXPECT_TRUE(again) << again.error().message();
    if (again) {
      EXPECT_EQ(*again, expected);
    }
    expect_fsck_clean(*store, "after the next import");
    if (n > 500) {
      ADD_FAILURE() << "the import never completed without reaching the fault point";
      break;
    }
  }
  return sweep;
}

TEST(FaultPoints, ArmedAtN_TheNthPointFails_OthersOnlyCount) {
  fault::ScopedFaults scoped;
  fault::arm(3);
  EXPECT_TRUE(fault::point(fault::Op::fsync, "/a"));
  EXPECT_TRUE(fault::point(fault::Op::rename, "/b"));
  auto third = fault::point(fault::Op::dir_fsync, "/c");
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().message(), sys_error("fsync directory (injected fault 3)", "/c", EIO).message());
  EXPECT_EQ(fault::fired().value_or(""), "fsync directory /c");
  EXPECT_TRUE(fault::point(fault::Op::db_commit, "/d"));  // only the N-th
  EXPECT_EQ(fault::points_seen(), 4u);
  fault::disarm();
  EXPECT_FALSE(fault::fired());
  EXPECT_EQ(fault::points_seen(), 0u);
}

TEST(FaultPoints, ABlobWriteFailingAtAnyPoint_LeavesNoBlobAndNoTempFile) {
  ScratchDir dir;
  fault::ScopedFaults scoped;
  auto store = testing::open_store(dir / "s");
  const std::string data(100000, 'x');
  for (std::uint64_t n = 1; n <= 4; ++n) {  // write, fsync, rename, directory fsync
    fault::arm(n);
    auto put = store->blobs().put(data);
    ASSERT_FALSE(put) << "point " << n;
    fault::disarm();
    if (n < 4) {
      EXPECT_FALSE(store->blobs().has(Digest::of(data))) << "point " << n;
    }
    for (const auto& name : leftovers(dir / "s")) {
      EXPECT_EQ(name.find("blob-"), std::string::npos) << name;
    }
  }
  fault::arm(5);
  EXPECT_TRUE(store->blobs().put(data));
  EXPECT_FALSE(fault::fired());
}

TEST(FaultPoints, ARootfsTarImport_FailsAtEveryPointInTurn_TheStoreStaysConsistent) {
  ScratchDir dir;
  testing::write_tar(dir / "rootfs.tar", {{.name = "bin/", .type = 'd', .mode = 0755},
                                          {.name = "bin/tool", .data = "#!/bin/sh\necho tool\n", .mode = 0755},
                                          {.name = "etc/motd", .data = "hello\n"}});
  Sweep sweep = fail_at_every_point(dir.path(), dir / "rootfs.tar");
  EXPECT_GE(sweep.points, 12u);  // 3 blobs x 4 points, and meta.db
  for (const char* op : {"write", "fsync", "rename", "fsync directory", "commit"})
    EXPECT_TRUE(sweep.ops_hit.count(op)) << "no " << op << " point in a tar import";
}

TEST(FaultPoints, AnOciLayoutImport_FailsAtEveryPointInTurn_TheStoreStaysConsistent) {
  ScratchDir dir;
  testing::write_tar(dir / "layer.tar", {{.name = "etc/", .type = 'd', .mode = 0755},
                                         {.name = "etc/motd", .data = "from a layout\n"}});
  std::string diff_id = Digest::of(gantry::testing::read_file_or_die(dir / "layer.tar")).str();
  testing::write_oci_layout(dir / "layout", dir / "layer.tar", "application/vnd.oci.image.layer.v1.tar", diff_id);
  Sweep sweep = fail_at_every_point(dir.path(), dir / "layout");
  EXPECT_GE(sweep.points, 12u);
  for (const char* op : {"write", "fsync", "rename", "fsync directory", "commit"})
    EXPECT_TRUE(sweep.ops_hit.count(op)) << "no " << op << " point in a layout import";
}

}  // namespace
}  // namespace gantry::cache
