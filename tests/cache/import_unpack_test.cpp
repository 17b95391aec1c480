// Importing an image unpacks its layers (cache/oci_import.cpp): a rootfs
// tarball's tree becomes its layer's layers/<diff_id> as it is, an OCI
// layout's layers are unpacked in parallel in the pass that checks them, so
// the first container of a new image unpacks nothing. Each published tree is
// the one unpacking the layer blob alone gives (the lazy path it replaces).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cache/image_store.h"
#include "cache/layer_unpacker.h"
#include "cache/layer_writer.h"
#include "cache/oci_transfer.h"
#include "cache/store.h"
#include "common/fault_injection.h"
#include "common/file_util.h"
#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

using gantry::testing::run_shell;
using gantry::testing::ScratchDir;
using gantry::testing::write_file;

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The tree unpacking the layer's blob gives, in a scratch dir of `store`.
std::map<std::string, std::string> unpacked_alone(Store& store, const LayerDescriptor& layer,
                                                  const std::string& blob = "") {
  auto tree = unpack_layer_file(store, blob.empty() ? store.blobs().path(layer.digest) : blob, layer);
  EXPECT_TRUE(tree) << tree.error().message();
  if (!tree) return {};
  return testing::snapshot_tree(tree->path() + "/root", true);
}

// A rootfs tarball with what a distribution's has: nested dirs, an
// executable, setuid, other owners, a symlink, a hardlink, a device node,
// mtimes before and after the import's epoch.
void write_rootfs_tar(const std::string& dir, const std::string& path) {
  std::string root = dir + "/rootfs-src";
  write_file(root + "/usr/bin/tool", "#!/bin/sh\necho tool\n", 0755);
  write_file(root + "/usr/bin/su", "setuid", 04755);
  write_file(root + "/usr/share/doc/pkg/copyright", std::string(200000, 'c'));
  write_file(root + "/etc/motd", "hello\n");
  write_file(root + "/home/user/.profile", "export A=1\n", 0600);
  ::symlink("../usr/bin/tool", (root + "/etc/tool-link").c_str());
  ::link((root + "/usr/bin/tool").c_str(), (root + "/usr/bin/tool2").c_str());
  ::chown((root + "/home/user/.profile").c_str(), 1000, 1000);
  ::chown((root + "/home/user").c_str(), 1000, 1000);
  ASSERT_EQ(::mknod((root + "/dev-null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  ASSERT_EQ(run_shell("touch -d @1000 " + root + "/etc/motd " + root + "/usr/share/doc && touch -d @4000000000 " + root +
                      "/usr/bin/tool && tar --numeric-owner -C " + root + " -cf " + path + " .")
                .exit_code,
            0);
}

TEST(ImportUnpack, RootfsTarImport_PublishesItsTree_TheSameTreeUnpackingTheLayerGives) {
  GANTRY_REQUIRE_ROOT();
  ScratchDir dir;
  write_rootfs_tar(dir.path(), dir / "rootfs.tar");
  auto store = testing::open_store(dir / "s");
  ImportOptions options;
  options.epoch = 2000000000;  // between the two mtimes above: one is clamped
  auto digest = import_image(*store, dir / "rootfs.tar", "base:1", options);
  ASSERT_TRUE(digest) << digest.error().message();
  auto image = store->images().load(*digest);
  ASSERT_TRUE(image) << image.error().message();
  ASSERT_EQ(image->layers.size(), 1u);
  const LayerDescriptor& layer = image->layers[0];
  const std::string published = store->paths().layer_dir(layer.diff_id);
  ASSERT_TRUE(is_dir(published)) << "the import left the layer to the first container";

  auto tree = testing::snapshot_tree(published, true);
  EXPECT_EQ(tree, unpacked_alone(*store, layer));
  EXPECT_NE(tree.find("dev-null"), tree.end());
  EXPECT_NE(tree.find("usr/bin/su"), tree.end());
  struct stat a {}, b {}, root {};
  ASSERT_EQ(::stat((published + "/usr/bin/tool").c_str(), &a), 0);
  ASSERT_EQ(::stat((published + "/usr/bin/tool2").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_mtime, 2000000000) << "an mtime past the epoch is the epoch, as in the layer";
  ASSERT_EQ(::stat(published.c_str(), &root), 0);
  EXPECT_EQ(root.st_mode & 07777, 0755u);
  // ensure_unpacked (what a container calls) finds it: the same dir, nothing unpacked.
  ASSERT_EQ(::unlink(store->blobs().path(layer.digest).c_str()), 0);  // an unpack would now fail
  auto lower = ensure_unpacked(*store, layer);
  ASSERT_TRUE(lower) << lower.error().message();
  EXPECT_EQ(*lower, published);
}

TEST(ImportUnpack, RootfsTarWithWhiteoutNames_IsNotPublished_TheLayerUnpacksThemAsWhiteouts) {
  GANTRY_REQUIRE_ROOT();
  ScratchDir dir;
  testing::write_tar(dir / "rootfs.tar", {{.name = "etc/", .type = 'd', .mode = 0755},
                                          {.name = "etc/.wh.gone", .data = ""},
                                          {.name = "etc/kept", .data = "kept\n"}});
  auto store = testing::open_store(dir / "s");
  auto image = store->images().load(*import_image(*store, dir / "rootfs.tar", "wh:1"));
  ASSERT_TRUE(image) << image.error().message();
  const LayerDescriptor& layer = image->layers[0];
  EXPECT_FALSE(is_dir(store->paths().layer_dir(layer.diff_id)))
      << "a tree holding .wh. names is not its layer's tree (the layer makes them whiteouts)";
  auto lower = ensure_unpacked(*store, layer);
  ASSERT_TRUE(lower) << lower.error().message();
  struct stat st {};
  ASSERT_EQ(::lstat((*lower + "/etc/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST(ImportUnpack, FirstExecAfterRootfsImport_UnpacksNothing) {
  GANTRY_REQUIRE_ROOT();  // gantry exec needs namespaces
  ScratchDir dir;
  gantry::testing::make_busybox_rootfs(dir / "bb");
  ASSERT_EQ(run_shell("tar -C " + dir / "bb" + " -cf " + dir / "bb.tar .").exit_code, 0);
  auto imported = gantry::testing::run_gantry(dir / "s", {"image", "import", dir / "bb.tar", "bb:1"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  auto store = testing::open_store(dir / "s");
  auto image = store->images().load_ref("bb:1");
  ASSERT_TRUE(image) << image.error().message();
  store.reset();
  // Without the layer's blob an unpack fails: the exec runs on what the import published.
  for (const auto& layer : image->layers) ASSERT_EQ(::unlink((dir / "s/blobs/sha256/" + layer.digest.hex()).c_str()), 0);
  auto ran = gantry::testing::run_gantry(dir / "s", {"exec", "bb:1", "--", "cat", "/etc/passwd"});
  EXPECT_EQ(ran.exit_code, 0) << ran.err;
  EXPECT_NE(ran.out.find("root:"), std::string::npos) << ran.out;
}

// Four layers made by gantry, exported as an OCI layout.
std::vector<LayerDescriptor> write_layered_layout(const std::string& work, const std::string& layout) {
  auto store = testing::open_store(work + "/src-store");
  std::vector<LayerDescriptor> layers;
  for (int i = 0; i < 4; ++i) {
    std::string tree = work + "/layer" + std::to_string(i);
    testing::make_sample_tree(tree);
    write_file(tree + "/layer" + std::to_string(i) + "/data", std::string(100000 * (i + 1), static_cast<char>('a' + i)));
    write_file(tree + "/etc/config.txt", "layer " + std::to_string(i) + "\n");
    auto l = write_layer_from_dir(*store, tree);
    EXPECT_TRUE(l) << l.error().message();
    layers.push_back(*l);
  }
  ImageConfig config;
  auto manifest = store->images().commit_image(config, layers);
  EXPECT_TRUE(manifest) << manifest.error().message();
  auto exported = export_image(*store, *manifest, layout, "v1");
  EXPECT_TRUE(exported) << exported.error().message();
  return layers;
}

TEST(ImportUnpack, OciLayoutImport_UnpacksEveryLayerInParallel_EachTreeAsUnpackedAlone) {
  ScratchDir dir;
  auto layers = write_layered_layout(dir.path(), dir / "layout");
  ASSERT_EQ(layers.size(), 4u);
  auto store = testing::open_store(dir / "s");
  auto digest = import_image(*store, dir / "layout", "multi:1");
  ASSERT_TRUE(digest) << digest.error().message();
  for (const auto& layer : layers) {
    SCOPED_TRACE(layer.digest.str());
    const std::string published = store->paths().layer_dir(layer.diff_id);
    ASSERT_TRUE(is_dir(published)) << "the import left a layer to the first container";
    EXPECT_EQ(testing::snapshot_tree(published, true), unpacked_alone(*store, layer));
  }
  // The parallel helper gives what one layer at a time gives, in order.
  std::vector<LayerFile> files;
  for (const auto& l : layers) files.push_back({store->blobs().path(l.digest), l});
  auto other = testing::open_store(dir / "s2");
  auto trees = check_or_unpack_layers(*other, files, true);
  ASSERT_TRUE(trees) << trees.error().message();
  ASSERT_EQ(trees->size(), layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    ASSERT_TRUE((*trees)[i].has_value());
    EXPECT_EQ(testing::snapshot_tree((*trees)[i]->path() + "/root", true), unpacked_alone(*other, layers[i], files[i].path));
  }
}

TEST(ImportUnpack, OciLayoutWithOneBadLayer_PublishesNoTreeOfAnyLayer) {
  ScratchDir dir;
  auto layers = write_layered_layout(dir.path(), dir / "layout");
  // The third layer's blob is damaged in place (same size): its digest is wrong.
  std::string blob = dir / "layout/blobs/sha256/" + layers[2].digest.hex();
  ASSERT_EQ(run_shell("printf 'XXXX' | dd of=" + blob + " bs=1 seek=100 conv=notrunc 2>/dev/null").exit_code, 0);
  auto store = testing::open_store(dir / "s");
  auto digest = import_image(*store, dir / "layout", "multi:1");
  ASSERT_FALSE(digest);
  EXPECT_NE(digest.error().message().find("does not match its digest"), std::string::npos) << digest.error().message();
  auto names = list_dir(store->paths().layers_dir());
  ASSERT_TRUE(names) << names.error().message();
  EXPECT_TRUE(names->empty()) << "a tree was published although the image was refused";
}

// The unpacker writes files on a pool of threads while it reads the tar;
// entries that touch a queued file's name wait for it. The tree must be the
// one a single thread makes, also when entries replace earlier ones.
TEST(ImportUnpack, FileWritersOnThreads_GiveTheSameTreeAsOneThread_AlsoWhenEntriesReplaceEachOther) {
  ScratchDir dir;
  std::vector<testing::TarEntry> entries;
  for (int d = 0; d < 20; ++d) {
    entries.push_back({.name = "d" + std::to_string(d) + "/", .type = 'd', .mode = 0755});
    for (int f = 0; f < 30; ++f)
      entries.push_back({.name = "d" + std::to_string(d) + "/f" + std::to_string(f),
                         .data = std::string(static_cast<std::size_t>(37 * f + d), static_cast<char>('a' + f % 26)),
                         .mode = static_cast<mode_t>(f % 2 ? 0755 : 0640)});
  }
  entries.push_back({.name = "d0/f1", .data = "replaced\n"});                  // the same path again
  entries.push_back({.name = "d1/f2/", .type = 'd', .mode = 0700});             // a file replaced by a directory
  entries.push_back({.name = "d1/f2/inside", .data = "below it\n"});
  entries.push_back({.name = "d2/link", .type = 'l', .data = "f3"});
  entries.push_back({.name = "d2/hard", .type = 'h', .data = "d2/f4"});        // links a queued file
  entries.push_back({.name = "big", .data = std::string(9u << 20, 'B')});      // over the queue's file size
  entries.push_back({.name = "d3/f5", .type = 'l', .data = "f6"});             // a queued file replaced by a symlink
  entries.push_back({.name = "d4/.wh.f7", .data = ""});                        // a whiteout of a queued file
  testing::write_tar(dir / "layer.tar", entries);

  auto unpack = [&](const std::string& dest, int writers) {
    ::mkdir(dest.c_str(), 0755);
    UnpackOptions o;
    o.writers = writers;
    auto d = unpack_tar(dir / "layer.tar", dest, o);
    EXPECT_TRUE(d) << d.error().message();
    return testing::snapshot_tree(dest, true);
  };
  auto one = unpack(dir / "one", 0);
  EXPECT_EQ(one["d0/f1"].find("100644"), 0u) << one["d0/f1"];
  EXPECT_NE(one.find("d1/f2/inside"), one.end());
  for (int writers : {1, 2, 4}) {
    SCOPED_TRACE(std::to_string(writers) + " writers");
    auto many = unpack(dir / ("w" + std::to_string(writers)), writers);
    // A whiteout is made at unpack time, with that time as its mtime.
    many["d4/f7"] = one["d4/f7"].substr(0, one["d4/f7"].find(" mtime")) == many["d4/f7"].substr(0, many["d4/f7"].find(" mtime"))
                        ? one["d4/f7"]
                        : many["d4/f7"];
    std::string diff;
    for (const auto& [path, what] : one)
      if (many[path] != what) diff += path + ": one thread '" + what + "', threads '" + many[path] + "'\n";
    for (const auto& [path, what] : many)
      if (!one.count(path)) diff += path + ": only with threads '" + what + "'\n";
    EXPECT_EQ(diff, "");
  }
  struct stat a {}, b {};
  ASSERT_EQ(::stat((dir / "w4/d2/hard").c_str(), &a), 0);
  ASSERT_EQ(::stat((dir / "w4/d2/f4").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(gantry::testing::read_file_or_die(dir / "w4/d0/f1"), "replaced\n");
}

// Failing at every durable-write point of a rootfs import in turn: no
// layers/<diff_id> is ever there but whole (the same tree as a clean import).
TEST(ImportUnpack, RootfsTarImportFailingAtEveryPoint_NeverLeavesAPartialTree) {
  GANTRY_REQUIRE_ROOT();
  ScratchDir dir;
  write_rootfs_tar(dir.path(), dir / "rootfs.tar");
  std::map<std::string, std::string> reference;
  std::string diff_hex;
  {
    auto store = testing::open_store(dir / "reference");
    auto image = store->images().load(*import_image(*store, dir / "rootfs.tar", "base:1"));
    ASSERT_TRUE(image);
    diff_hex = image->layers[0].diff_id.hex();
    reference = testing::snapshot_tree(store->paths().layer_dir(image->layers[0].diff_id), true);
  }
  fault::ScopedFaults scoped;
  for (std::uint64_t n = 1; n < 200; ++n) {
    SCOPED_TRACE("fault at point " + std::to_string(n));
    std::string sdir = dir / ("n" + std::to_string(n));
    auto store = testing::open_store(sdir);
    fault::arm(n);
    auto imported = import_image(*store, dir / "rootfs.tar", "base:1");
    bool fired = fault::fired().has_value();
    fault::disarm();
    std::string layer = sdir + "/layers/" + diff_hex;
    if (is_dir(layer)) {
      EXPECT_EQ(testing::snapshot_tree(layer, true), reference);
    }
    if (!fired) {
      ASSERT_TRUE(imported) << imported.error().message();
      EXPECT_TRUE(is_dir(layer));
      return;
    }
    run_shell("rm -rf " + sdir);
  }
  ADD_FAILURE() << "the import never completed without reaching the fault point";
}

}  // namespace
}  // namespace gantry::cache
