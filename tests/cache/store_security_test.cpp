// The store on the host (issue 10 items 2 and 11): no host user but the
// store's owner can reach what unpacked layers hold (setuid binaries, device
// nodes); fsck names a store whose modes are wrong; and a tree deeper than
// PATH_MAX never breaks gc or the scratch sweep.
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/store.h"
#include "tests/cache/cache_test_util.h"
#include "tests/support/deep_tree.h"

namespace gantry::cache {
namespace {

using gantry::testing::CommandResult;
using gantry::testing::run_command;
using gantry::testing::run_gantry;
using gantry::testing::run_shell;
using gantry::testing::ScratchDir;

unsigned mode_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// An unprivileged host user made for the test, removed with it.
class HostUser {
 public:
  HostUser() : name_("gantry-t" + std::to_string(::getpid())) {
    auto r = run_command({"useradd", "--system", "--no-create-home", "--shell", "/bin/sh", name_});
    error_ = r.exit_code == 0 ? "" : "useradd: " + r.err;
  }
  ~HostUser() {
    if (error_.empty()) run_command({"userdel", name_});
  }
  const std::string& error() const { return error_; }
  // Runs argv as this user, with no supplementary groups. The user's own
  // shell does the exec: setpriv's direct exec of a path is not what an
  // unprivileged process gets (it reached into a 0700 dir here).
  CommandResult run(const std::vector<std::string>& argv) const {
    std::vector<std::string> full = {"setpriv", "--reuid=" + name_, "--regid=" + name_, "--clear-groups", "--",
                                     "sh",      "-c",           "exec \"$@\"",      "sh"};
    full.insert(full.end(), argv.begin(), argv.end());
    return run_command(full);
  }

 private:
  std::string name_;
  std::string error_;
};

// 10.2: before the fix the store and layers/ were 0755 and any host user ran
// <store>/layers/<id>/.../suid-id as euid 0 and wrote to device nodes of the image.
TEST(StoreSecurity, OtherHostUsersCannotReachSetuidBinariesOrDevicesInTheStore) {
  GANTRY_REQUIRE_ROOT();
  ScratchDir scratch;
  ASSERT_EQ(::chmod(scratch.path().c_str(), 0755), 0);  // only the store itself is to keep others out
  std::string store = scratch / "store";

  // An image whose layer holds a setuid-root copy of id(1) and a 0666 /dev/null node.
  testing::write_tar(scratch / "layer.tar",
                     {{"bin", 'd', "", 0755},
                      {"bin/suid-id", 'f', gantry::testing::read_file_or_die("/usr/bin/id"), 04755},
                      {"dev", 'd', "", 0755},
                      {"dev/null", 'c', "", 0666, 1, 3}});
  std::string diff_id = Digest::of(gantry::testing::read_file_or_die(scratch / "layer.tar")).str();
  testing::write_oci_layout(scratch / "layout", scratch / "layer.tar", "application/vnd.oci.image.layer.v1.tar", diff_id);
  auto imported = run_gantry(store, {"image", "import", scratch / "layout", "suid:1"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  std::string layer = store + "/layers/" + diff_id.substr(7);
  ASSERT_EQ(mode_of(layer + "/bin/suid-id"), 04755u) << "the container needs the layer as the image made it";
  struct stat st {};
  ASSERT_EQ(::lstat((layer + "/dev/null").c_str(), &st), 0);
  ASSERT_TRUE(S_ISCHR(st.st_mode));

  for (const char* d : {"", "/blobs", "/blobs/sha256", "/layers", "/runs", "/tmp"})
    EXPECT_EQ(mode_of(store + d), 0700u) << store + d;

  HostUser user;
  ASSERT_EQ(user.error(), "");
  auto expect_denied = [&] {
    auto ls = user.run({"ls", store + "/layers"});
    EXPECT_NE(ls.exit_code, 0) << ls.out;
    EXPECT_NE(ls.err.find("Permission denied"), std::string::npos) << ls.err;
    auto suid = user.run({layer + "/bin/suid-id", "-u"});
    EXPECT_NE(suid.exit_code, 0) << suid.out;
    EXPECT_EQ(suid.out.find('0'), std::string::npos) << suid.out;
    auto dev = user.run({"sh", "-c", "echo x > " + layer + "/dev/null"});
    EXPECT_NE(dev.exit_code, 0);
    EXPECT_NE(dev.err.find("Permission denied"), std::string::npos) << dev.err;
  };
  expect_denied();

  // Control: with the modes of the old stores, the same user gets in (so the
  // denial above is the store's modes, not the test's setup)...
  ASSERT_EQ(::chmod(store.c_str(), 0755), 0);
  ASSERT_EQ(::chmod((store + "/layers").c_str(), 0755), 0);
  auto ls = user.run({"ls", store + "/layers"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  auto suid = user.run({layer + "/bin/suid-id", "-u"});
  EXPECT_EQ(suid.out, "0\n") << "the attack of issue 10.2: " << suid.err;

  // ...fsck names the fault (and exits 1), tightening what it owns...
  auto fsck = run_gantry(store, {"fsck"});
  EXPECT_EQ(fsck.exit_code, 1) << fsck.out << fsck.err;
  EXPECT_NE(fsck.out.find("fault: store mode: " + store + " is 0755"), std::string::npos) << fsck.out;
  EXPECT_NE(fsck.out.find("fault: store mode: " + store + "/layers is 0755"), std::string::npos) << fsck.out;
  EXPECT_EQ(mode_of(store), 0700u);
  EXPECT_EQ(mode_of(store + "/layers"), 0700u);
  expect_denied();
  // ...and the store is clean afterwards.
  auto again = run_gantry(store, {"fsck"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
}

TEST(StoreSecurity, FsckReportsLooseModesItCannotFix) {
  // A store another user owns, opened by root: reported, not changed.
  GANTRY_REQUIRE_ROOT();
  ScratchDir scratch;
  std::string store = scratch / "store";
  ASSERT_EQ(run_gantry(store, {"fsck"}).exit_code, 0);
  ASSERT_EQ(::chown(store.c_str(), 65534, 65534), 0);
  ASSERT_EQ(::chmod(store.c_str(), 0751), 0);
  auto fsck = run_gantry(store, {"fsck"});
  EXPECT_EQ(fsck.exit_code, 1) << fsck.out;
  EXPECT_NE(fsck.out.find("store mode: " + store + " is 0751"), std::string::npos) << fsck.out;
  EXPECT_NE(fsck.out.find("belongs to uid 65534"), std::string::npos) << fsck.out;
  EXPECT_EQ(mode_of(store), 0751u);
}

// 10.11: a tree deeper than PATH_MAX in an unreferenced layer dir and in a
// dead process's scratch dir: gc removes both and succeeds ("File name too
// long" before the fix, and the scratch dir stayed forever).
TEST(StoreSecurity, TreeDeeperThanPathMaxNeverBreaksGcOrTheSweep) {
  ScratchDir scratch;
  std::string store = scratch / "store";
  ASSERT_EQ(run_gantry(store, {"fsck"}).exit_code, 0);
  gantry::testing::write_file(scratch / "outside/canary", "keep\n");

  std::string stray = store + "/layers/" + std::string(64, 'a');
  ASSERT_EQ(::mkdir(stray.c_str(), 0755), 0);
  ASSERT_GT(gantry::testing::make_deep_tree(stray, 40, scratch / "outside"), static_cast<std::size_t>(PATH_MAX));

  // A dead process's scratch: its lock file exists and nobody holds it.
  std::string dead = store + "/tmp/deadbeef-1";
  ASSERT_EQ(::mkdir(dead.c_str(), 0700), 0);
  gantry::testing::write_file(dead + ".lock", "");
  gantry::testing::make_deep_tree(dead, 40, scratch / "outside");

  auto gc = run_gantry(store, {"gc", "--json"});
  ASSERT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  EXPECT_NE(gc.out.find("\"layers_removed\":1"), std::string::npos) << gc.out;
  struct stat st {};
  EXPECT_NE(::lstat(stray.c_str(), &st), 0);
  EXPECT_NE(::lstat(dead.c_str(), &st), 0);
  EXPECT_EQ(gantry::testing::read_file_or_die(scratch / "outside/canary"), "keep\n");
  auto fsck = run_gantry(store, {"fsck"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out;
}

}  // namespace
}  // namespace gantry::cache
