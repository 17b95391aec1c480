// Crash safety, deterministically: the gantry binary is killed (SIGKILL, by
// itself: GANTRY_FAULT_AT=N GANTRY_FAULT_MODE=crash, common/fault_injection.h)
// at every durable-write point of an import in turn, N = 1, 2, ... until the
// import completes without reaching N; and once more failing with EIO there
// (GANTRY_FAULT_MODE=error). After each: `gantry fsck` is clean and the same
// import works. Replaces a SIGKILL after a random sleep, which hit whatever
// point the timing gave; the real SIGKILL from outside stays in
// tests/runner/run_crash_test.cpp.
#include <gtest/gtest.h>

#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

using gantry::testing::CommandResult;
using gantry::testing::run_command;
using gantry::testing::run_gantry;
using gantry::testing::ScratchDir;

CommandResult gantry_with_fault(const std::string& store, const std::vector<std::string>& args, std::uint64_t n,
                                const std::string& mode) {
  std::vector<std::string> argv = {gantry::testing::gantry_binary(), "--store", store};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, {"GANTRY_FAULT_AT=" + std::to_string(n), "GANTRY_FAULT_MODE=" + mode});
}

// Returns how many points the import passes.
std::uint64_t crash_at_every_point(const std::string& work, const std::string& source, const std::string& mode) {
  std::vector<std::string> import = {"image", "import", "-q", source, "app:1"};
  auto reference = run_gantry(work + "/reference-" + mode, import);
  EXPECT_EQ(reference.exit_code, 0) << reference.err;
  for (std::uint64_t n = 1; n <= 500; ++n) {
    SCOPED_TRACE(mode + " at point " + std::to_string(n));
    std::string store = work + "/" + mode + "-" + std::to_string(n);
    auto r = gantry_with_fault(store, import, n, mode);
    bool hit = r.err.find("gantry: injected fault at point " + std::to_string(n) + ":") != std::string::npos;
    if (!hit) {
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.out, reference.out);
      return n - 1;
    }
    if (mode == "crash") {
      EXPECT_EQ(r.exit_code, 128 + 9) << "not killed at the point:\n" << r.err;
    } else {
      EXPECT_NE(r.err.find("injected fault " + std::to_string(n)), std::string::npos) << r.err;
    }
    auto fsck = run_gantry(store, {"fsck"});
    EXPECT_EQ(fsck.exit_code, 0) << r.err << "\nfsck:\n" << fsck.out << fsck.err;
    if (r.exit_code != 0) {
      auto tag = run_gantry(store, {"image", "inspect", "app:1"});
      EXPECT_NE(tag.exit_code, 0) << "a failed import left its tag";
    }
    auto again = run_gantry(store, import);
    EXPECT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(again.out, reference.out);  // the same manifest digest
    fsck = run_gantry(store, {"fsck", "--deep"});
    EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
    // What the crashed process left in tmp/ has been swept by the next one.
    auto left = gantry::testing::run_shell("ls -A " + store + "/tmp | grep -v '^session-' | wc -l");
    EXPECT_EQ(left.out, "0\n") << gantry::testing::run_shell("ls -la " + store + "/tmp").out;
    run_command({"rm", "-rf", store});
  }
  ADD_FAILURE() << "the import never completed without reaching the fault point";
  return 0;
}

class CrashPoints : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_tar(dir / "rootfs.tar", {{.name = "bin/", .type = 'd', .mode = 0755},
                                            {.name = "bin/tool", .data = "#!/bin/sh\necho tool\n", .mode = 0755},
                                            {.name = "etc/motd", .data = std::string(300000, 'm')}});
    testing::write_tar(dir / "layer.tar", {{.name = "etc/", .type = 'd', .mode = 0755},
                                           {.name = "etc/motd", .data = "from a layout\n"}});
    std::string diff_id = Digest::of(gantry::testing::read_file_or_die(dir / "layer.tar")).str();
    testing::write_oci_layout(dir / "layout", dir / "layer.tar", "application/vnd.oci.image.layer.v1.tar", diff_id);
  }
  ScratchDir dir;
};

TEST_F(CrashPoints, RootfsTarImport_KilledAtEveryDurableWrite_FsckCleanAndTheNextImportWorks) {
  EXPECT_GE(crash_at_every_point(dir.path(), dir / "rootfs.tar", "crash"), 12u);
}

TEST_F(CrashPoints, RootfsTarImport_FailingAtEveryDurableWrite_FsckCleanAndTheNextImportWorks) {
  EXPECT_GE(crash_at_every_point(dir.path(), dir / "rootfs.tar", "error"), 12u);
}

TEST_F(CrashPoints, OciLayoutImport_KilledAtEveryDurableWrite_FsckCleanAndTheNextImportWorks) {
  EXPECT_GE(crash_at_every_point(dir.path(), dir / "layout", "crash"), 12u);
}

}  // namespace
}  // namespace gantry::cache
