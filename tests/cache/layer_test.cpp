#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cache/layer_unpacker.h"
#include "cache/layer_writer.h"
#include "cache/store.h"
#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

using gantry::testing::run_shell;
using gantry::testing::ScratchDir;
using gantry::testing::write_file;

LayerDescriptor layer_of(Store& store, const std::string& dir, std::int64_t epoch = 0) {
  LayerOptions o;
  o.epoch = epoch;
  auto d = write_layer_from_dir(store, dir, o);
  EXPECT_TRUE(d) << (d ? "" : d.error().message());
  return *d;
}

TEST(LayerWriter, SameTreeGivesSameDigestBitForBit) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  testing::make_sample_tree(dir / "a");
  auto first = layer_of(*store, dir / "a");
  // A copy made at another time, in another order, has the same digest.
  ASSERT_EQ(run_shell("cp -a " + dir / "a" + " " + dir / "b" + " && touch " + dir / "b/etc/config.txt").exit_code, 0);
  auto second = layer_of(*store, dir / "b");
  EXPECT_EQ(first.digest, second.digest);
  EXPECT_EQ(first.diff_id, second.diff_id);
  EXPECT_EQ(first.media_type, kMediaTypeLayerGzip);
  auto stored_size = store->blobs().size(first.digest);
  ASSERT_TRUE(stored_size) << stored_size.error().message();
  EXPECT_EQ(*stored_size, first.size);
}

TEST(LayerWriter, DiffIdIsTheSha256OfTheUncompressedTarAndGzipHeaderIsFixed) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  testing::make_sample_tree(dir / "a");
  auto l = layer_of(*store, dir / "a");
  auto r = run_shell("gzip -dc " + store->blobs().path(l.digest) + " | sha256sum | cut -d' ' -f1");
  EXPECT_EQ(r.out, l.diff_id.hex() + "\n");
  // gzip header: magic, deflate, no flags (no name), mtime 0.
  auto head = run_shell("head -c 8 " + store->blobs().path(l.digest) + " | od -An -tx1 | tr -d ' \\n'");
  EXPECT_EQ(head.out, "1f8b080000000000");
  // Entries: sorted, numeric owner with no names, the hardlink stored once.
  auto list = run_shell("tar -tvzf " + store->blobs().path(l.digest) + " --numeric-owner");
  EXPECT_NE(list.out.find("bin/tool-hardlink link to bin/tool"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("data/link -> ../etc/config.txt"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("root"), std::string::npos) << "no user names in a layer: " << list.out;
}

TEST(LayerWriter, MultiChunkLayerIsValidGzipWithMatchingDiffIdAndCrc) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  // > 5 compression chunks: incompressible and repetitive parts.
  ASSERT_EQ(run_shell("mkdir -p " + dir / "a" + " && head -c 3000000 /dev/urandom > " + dir / "a/rand" +
                      " && seq 1 400000 > " + dir / "a/text").exit_code, 0);
  auto l = layer_of(*store, dir / "a");
  std::string blob = store->blobs().path(l.digest);
  EXPECT_EQ(run_shell("gzip -t " + blob).exit_code, 0) << "CRC and length trailer must be right";
  EXPECT_EQ(run_shell("gzip -dc " + blob + " | sha256sum | cut -d' ' -f1").out, l.diff_id.hex() + "\n");
  EXPECT_EQ(run_shell("tar -xzOf " + blob + " rand | cmp - " + dir / "a/rand").exit_code, 0);
  auto again = layer_of(*store, dir / "a");
  EXPECT_EQ(again.digest, l.digest);
}

TEST(LayerWriter, OneByteModeOrMtimeAboveEpochChangesDigest) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  const std::int64_t epoch = 2000000000;  // later than every file here
  testing::make_sample_tree(dir / "a");
  auto base = layer_of(*store, dir / "a", epoch);

  write_file(dir / "a/etc/config.txt", "key=valuf\n");
  auto byte = layer_of(*store, dir / "a", epoch);
  EXPECT_NE(byte.digest, base.digest);
  write_file(dir / "a/etc/config.txt", "key=value\n");

  ::chmod((dir / "a/etc/config.txt").c_str(), 0600);
  auto mode = layer_of(*store, dir / "a", epoch);
  EXPECT_NE(mode.digest, base.digest);
  ::chmod((dir / "a/etc/config.txt").c_str(), 0644);

  // Restoring content and mode but not mtime: below the epoch, mtime counts.
  auto touched = layer_of(*store, dir / "a", epoch);
  timespec t[2] = {{1000, 0}, {1000, 0}};
  ::utimensat(AT_FDCWD, (dir / "a/etc/config.txt").c_str(), t, 0);
  auto older = layer_of(*store, dir / "a", epoch);
  EXPECT_NE(older.digest, touched.digest);

  // With epoch 0 every mtime is clamped: touching a file changes nothing.
  auto clamped1 = layer_of(*store, dir / "a", 0);
  ::utimensat(AT_FDCWD, (dir / "a/etc/config.txt").c_str(), nullptr, 0);
  auto clamped2 = layer_of(*store, dir / "a", 0);
  EXPECT_EQ(clamped1.digest, clamped2.digest);
}

TEST(LayerWriter, ExplicitEntriesRoundTripThroughUnpack) {
  GANTRY_REQUIRE_ROOT();
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  auto w = LayerWriter::create(*store);
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->add_directory("app", 0755, 0, 0));
  ASSERT_TRUE((*w)->add_file("app/hello.sh", 0755, 1000, 1000, "echo hello\n"));
  std::string big(200000, 'q');
  std::size_t pos = 0;
  ASSERT_TRUE((*w)->add_file("app/big", 0644, 0, 0, big.size(), [&](char* buf, std::size_t n) -> Result<std::size_t> {
    std::size_t k = std::min(n, big.size() - pos);
    std::memcpy(buf, big.data() + pos, k);
    pos += k;
    return k;
  }));
  ASSERT_TRUE((*w)->add_symlink("app/current", "hello.sh"));
  ASSERT_TRUE((*w)->add_hardlink("app/hello2.sh", "app/hello.sh"));
  EXPECT_FALSE((*w)->add_file("../escape", 0644, 0, 0, "x"));
  EXPECT_FALSE((*w)->add_file("/abs", 0644, 0, 0, "x"));
  auto desc = (*w)->finish();
  ASSERT_TRUE(desc) << desc.error().message();
  auto dirp = ensure_unpacked(*store, *desc);
  ASSERT_TRUE(dirp) << dirp.error().message();
  EXPECT_EQ(*dirp, store->paths().layer_dir(desc->diff_id));
  auto snap = testing::snapshot_tree(*dirp);
  EXPECT_EQ(gantry::testing::read_file_or_die(*dirp + "/app/hello.sh"), "echo hello\n");
  EXPECT_EQ(gantry::testing::read_file_or_die(*dirp + "/app/big"), big);
  struct stat a {}, b {};
  ::stat((*dirp + "/app/hello.sh").c_str(), &a);
  ::stat((*dirp + "/app/hello2.sh").c_str(), &b);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_uid, 1000u);
  EXPECT_EQ(a.st_mode & 07777, 0755u);
  EXPECT_EQ(snap["app/current"].substr(snap["app/current"].find("->")), "-> hello.sh");
  // Unpacking again is a no-op returning the same dir.
  auto again = ensure_unpacked(*store, *desc);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*again, *dirp);
}

TEST(LayerWriter, TreeWithDevicesXattrsRoundTrips) {
  GANTRY_REQUIRE_ROOT();
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  testing::make_sample_tree(dir / "a");
  ASSERT_EQ(::mknod((dir / "a/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  ASSERT_EQ(::mkfifo((dir / "a/fifo").c_str(), 0600), 0);
  ::chown((dir / "a/etc/config.txt").c_str(), 123, 456);
  ::chmod((dir / "a/bin/tool").c_str(), 04755);
  bool xattrs = ::setxattr((dir / "a/etc/config.txt").c_str(), "user.gantry", "v1", 2, 0) == 0;
  auto l = layer_of(*store, dir / "a");
  auto out = ensure_unpacked(*store, l);
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(testing::snapshot_tree(dir / "a"), testing::snapshot_tree(*out));
  if (xattrs) {
    char v[8] = {};
    EXPECT_EQ(::getxattr((*out + "/etc/config.txt").c_str(), "user.gantry", v, sizeof v), 2);
    EXPECT_EQ(std::string(v, 2), "v1");
  }
}

TEST(LayerWriter, OverlayUpperWhiteoutsBecomeOciWhiteoutsAndBack) {
  GANTRY_REQUIRE_ROOT();
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  std::string up = dir / "upper";
  write_file(up + "/kept/file", "new\n");
  ASSERT_EQ(::mknod((up + "/deleted").c_str(), S_IFCHR | 0, makedev(0, 0)), 0);
  ::mkdir((up + "/opaque").c_str(), 0755);
  write_file(up + "/opaque/only", "x");
  ASSERT_EQ(::setxattr((up + "/opaque").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
  auto l = write_layer_from_upper(*store, up);
  ASSERT_TRUE(l) << l.error().message();
  auto list = run_shell("tar -tzf " + store->blobs().path(l->digest));
  EXPECT_NE(list.out.find(".wh.deleted"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("opaque/.wh..wh..opq"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("\ndeleted\n"), std::string::npos) << list.out;

  auto out = ensure_unpacked(*store, *l);
  ASSERT_TRUE(out) << out.error().message();
  struct stat st {};
  ASSERT_EQ(::lstat((*out + "/deleted").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  char v[4] = {};
  EXPECT_EQ(::getxattr((*out + "/opaque").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'y');
  EXPECT_NE(::lstat((*out + "/opaque/.wh..wh..opq").c_str(), &st), 0);
  EXPECT_NE(::lstat((*out + "/.wh.deleted").c_str(), &st), 0);
}

TEST(LayerWriter, UnfinishedLayerStoresNothing) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  {
    auto w = LayerWriter::create(*store);
    ASSERT_TRUE((*w)->add_file("x", 0644, 0, 0, "data"));
  }
  EXPECT_TRUE(store->blobs().list()->empty());
}

}  // namespace
}  // namespace gantry::cache
