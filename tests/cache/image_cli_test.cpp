// The image, gc and fsck commands end to end, on a real busybox image.
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

using gantry::testing::run_command;
using gantry::testing::run_gantry;
using gantry::testing::run_shell;
using gantry::testing::ScratchDir;
using nlohmann::json;

std::string make_busybox(const std::string& store, const std::string& name = "busybox") {
  auto r = run_command({gantry::testing::source_dir() + "/ci/make-busybox-image", "--store", store, name},
                       {"GANTRY=" + gantry::testing::gantry_binary()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto i = run_gantry(store, {"image", "inspect", name});
  return json::parse(i.out, nullptr, false).value("digest", "");
}

TEST(ImageCli, BusyboxImageIsReproducibleAndInspectable) {
  ScratchDir dir;
  std::string d1 = make_busybox(dir / "s1");
  std::string d2 = make_busybox(dir / "s2");
  ASSERT_TRUE(d1.starts_with("sha256:"));
  EXPECT_EQ(d1, d2) << "same busybox, same digest, in any store";
  EXPECT_EQ(make_busybox(dir / "s1"), d1) << "idempotent";

  auto r = run_gantry(dir / "s1", {"image", "inspect", "busybox:latest"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["digest"], d1);
  EXPECT_EQ(j["layers"].size(), 1u);
  EXPECT_EQ(j["config"]["rootfs"]["diff_ids"][0], j["layers"][0]["diff_id"]);
  EXPECT_EQ(j["config"]["os"], "linux");

  r = run_gantry(dir / "s1", {"image", "ls", "--json"});
  ASSERT_EQ(r.exit_code, 0);
  json ls = json::parse(r.out);
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_EQ(ls[0]["name"], "busybox");
  EXPECT_EQ(ls[0]["tag"], "latest");
  EXPECT_EQ(ls[0]["digest"], d1);
  r = run_gantry(dir / "s1", {"image", "ls"});
  EXPECT_NE(r.out.find("busybox"), std::string::npos);
  EXPECT_NE(r.out.find("NAME"), std::string::npos);
}

TEST(ImageCli, TagResolveByDigestAndRegistryStyleNames) {
  ScratchDir dir;
  std::string d = make_busybox(dir / "s");
  auto r = run_gantry(dir / "s", {"image", "tag", "busybox", "127.0.0.1:5000/team/base:1.2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_gantry(dir / "s", {"image", "inspect", "127.0.0.1:5000/team/base:1.2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["digest"], d);
  EXPECT_EQ(run_gantry(dir / "s", {"image", "inspect", d}).exit_code, 0);
  EXPECT_EQ(run_gantry(dir / "s", {"image", "inspect", "busybox@" + d}).exit_code, 0);
  EXPECT_EQ(run_gantry(dir / "s", {"image", "tag", "busybox", "Bad/Name"}).exit_code, 1);
  r = run_gantry(dir / "s", {"image", "rm", "127.0.0.1:5000/team/base:1.2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(run_gantry(dir / "s", {"image", "inspect", "127.0.0.1:5000/team/base:1.2"}).exit_code, 1);
}

TEST(ImageCli, GcKeepsTaggedAndRemovesUntagged) {
  ScratchDir dir;
  make_busybox(dir / "s");
  testing::write_tar(dir / "other.tar", {{"x", 'f', "other"}});
  ASSERT_EQ(run_gantry(dir / "s", {"image", "import", dir / "other.tar", "other"}).exit_code, 0);
  ASSERT_EQ(run_gantry(dir / "s", {"image", "export", "other", dir / "o.tar"}).exit_code, 0);
  ASSERT_EQ(run_gantry(dir / "s", {"image", "rm", "other"}).exit_code, 0);
  auto before = testing::snapshot_store(dir / "s");
  auto r = run_gantry(dir / "s", {"gc", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["blobs_removed"], 3) << r.out;  // other's manifest, config, layer
  EXPECT_EQ(j["blobs_kept"], 3) << r.out;
  EXPECT_EQ(run_gantry(dir / "s", {"fsck"}).exit_code, 0);
  EXPECT_EQ(run_gantry(dir / "s", {"image", "inspect", "busybox"}).exit_code, 0);
  r = run_gantry(dir / "s", {"gc", "--json"});
  EXPECT_EQ(json::parse(r.out)["blobs_removed"], 0);
}

TEST(ImageCli, FsckNamesCorruptAndMissingBlobs) {
  ScratchDir dir;
  std::string d = make_busybox(dir / "s");
  EXPECT_EQ(run_gantry(dir / "s", {"fsck"}).exit_code, 0);
  auto inspect = json::parse(run_gantry(dir / "s", {"image", "inspect", "busybox"}).out);
  std::string layer = inspect["layers"][0]["digest"];
  std::string config = inspect["config_digest"];
  std::string layer_path = dir / "s/blobs/sha256/" + layer.substr(7);
  ASSERT_EQ(run_shell("chmod u+w " + layer_path + " && printf X | dd of=" + layer_path +
                      " bs=1 seek=100 conv=notrunc 2>/dev/null").exit_code, 0);
  ASSERT_EQ(::unlink((dir / "s/blobs/sha256/" + config.substr(7)).c_str()), 0);
  auto r = run_gantry(dir / "s", {"fsck"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("blob " + layer + " is corrupt"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tag busybox:latest"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(config), std::string::npos) << r.out;
}

TEST(ImageCli, ExportArchiveAndReimportKeepsDigests) {
  ScratchDir dir;
  std::string d = make_busybox(dir / "s");
  ASSERT_EQ(run_gantry(dir / "s", {"image", "export", "busybox", dir / "bb.tar"}).exit_code, 0);
  ASSERT_EQ(run_gantry(dir / "s", {"image", "export", "busybox", dir / "layout"}).exit_code, 0);
  auto r = run_gantry(dir / "t", {"image", "import", dir / "bb.tar", "copy:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(run_gantry(dir / "t", {"image", "inspect", "copy:1"}).out)["digest"], d);
  r = run_gantry(dir / "t", {"image", "import", dir / "layout", "copy:2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(run_gantry(dir / "t", {"image", "inspect", "copy:2"}).out)["digest"], d);
  EXPECT_EQ(run_gantry(dir / "t", {"fsck"}).exit_code, 0);
}

}  // namespace
}  // namespace gantry::cache

namespace gantry::cache {
namespace {

// `pull NAME@sha256:<index>` of a multi-platform image stores the index beside
// the manifest it took: the index digest the user typed must resolve.
TEST(ImageCli, InspectByImageIndexDigestShowsItsPlatformManifest) {
  gantry::testing::ScratchDir dir;
  std::string manifest = make_busybox(dir / "s");
  ASSERT_TRUE(manifest.starts_with("sha256:"));
  json index = {{"schemaVersion", 2},
                {"mediaType", "application/vnd.oci.image.index.v1+json"},
                {"manifests",
                 json::array({{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                               {"digest", "sha256:" + std::string(64, 'a')},
                               {"size", 100},
                               {"platform", {{"os", "linux"}, {"architecture", "arm64"}}}},
                              {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                               {"digest", manifest},
                               {"size", 100},
                               {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}}})}};
  std::string text = index.dump();
  Digest index_digest = Digest::of(text);
  {
    auto store = testing::open_store(dir / "s");
    ASSERT_TRUE(store->blobs().put(text, index_digest));
  }
  for (const std::string& ref : {"busybox@" + index_digest.str(), index_digest.str()}) {
    auto r = gantry::testing::run_gantry(dir / "s", {"image", "inspect", ref});
    ASSERT_EQ(r.exit_code, 0) << ref << ": " << r.err;
    EXPECT_EQ(json::parse(r.out)["digest"], manifest) << ref;
  }
}

}  // namespace
}  // namespace gantry::cache
