// Interop with real OCI clients: skopeo and umoci read what gantry exports,
// and gantry imports what skopeo writes, keeping every digest.
#include <nlohmann/json.hpp>

#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

using gantry::testing::run_command;
using gantry::testing::run_gantry;
using gantry::testing::run_shell;
using gantry::testing::ScratchDir;
using nlohmann::json;

// A busybox rootfs with some extra kinds of entries, imported as src:v1.
std::string import_sample(const ScratchDir& dir, const std::string& store) {
  gantry::testing::make_busybox_rootfs(dir / "rootfs");
  testing::make_sample_tree(dir / "rootfs/sample");
  auto r = run_shell("tar --numeric-owner -C " + dir / "rootfs" + " -czf " + dir / "rootfs.tar.gz .");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_gantry(store, {"image", "import", dir / "rootfs.tar.gz", "src:v1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(run_gantry(store, {"image", "inspect", "src:v1"}).out, nullptr, false).value("digest", "");
}

TEST(Interop, SkopeoInspectsExportedLayoutAndArchive) {
  ScratchDir dir;
  std::string digest = import_sample(dir, dir / "s");
  ASSERT_EQ(run_gantry(dir / "s", {"image", "export", "src:v1", dir / "layout"}).exit_code, 0);
  auto r = run_command({"skopeo", "--insecure-policy", "inspect", "oci:" + dir / "layout" + ":v1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["Digest"], digest);
  EXPECT_EQ(j["Layers"].size(), 1u);
  EXPECT_EQ(j["Os"], "linux");

  ASSERT_EQ(run_gantry(dir / "s", {"image", "export", "src:v1", dir / "img.tar"}).exit_code, 0);
  r = run_command({"skopeo", "--insecure-policy", "inspect", "oci-archive:" + dir / "img.tar"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["Digest"], digest);
}

TEST(Interop, UmociUnpacksExportedImageToTheSourceTree) {
  GANTRY_REQUIRE_ROOT();
  ScratchDir dir;
  import_sample(dir, dir / "s");
  ASSERT_EQ(run_gantry(dir / "s", {"image", "export", "src:v1", dir / "layout"}).exit_code, 0);
  auto r = run_command({"umoci", "unpack", "--image", dir / "layout" + ":v1", dir / "bundle"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto expected = testing::snapshot_tree(dir / "rootfs");
  auto actual = testing::snapshot_tree(dir / "bundle/rootfs");
  EXPECT_EQ(expected.size(), actual.size());
  for (const auto& [path, desc] : expected) EXPECT_EQ(actual[path], desc) << path;
}

TEST(Interop, SkopeoCopiedLayoutImportsAndReexportsWithSameDigests) {
  ScratchDir dir;
  std::string digest = import_sample(dir, dir / "s");
  ASSERT_EQ(run_gantry(dir / "s", {"image", "export", "src:v1", dir / "a"}).exit_code, 0);
  // skopeo writes the layout; gantry takes it in a fresh store.
  auto r = run_command({"skopeo", "--insecure-policy", "copy", "oci:" + dir / "a" + ":v1", "oci:" + dir / "b" + ":copied"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string skopeo_digest =
      json::parse(run_command({"skopeo", "--insecure-policy", "inspect", "oci:" + dir / "b" + ":copied"}).out)["Digest"];
  r = run_gantry(dir / "t", {"image", "import", dir / "b", "imported:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(run_gantry(dir / "t", {"image", "inspect", "imported:1"}).out);
  EXPECT_EQ(j["digest"], skopeo_digest);
  ASSERT_EQ(run_gantry(dir / "t", {"image", "export", "imported:1", dir / "c"}).exit_code, 0);
  r = run_command({"skopeo", "--insecure-policy", "inspect", "oci:" + dir / "c" + ":1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json c = json::parse(r.out);
  EXPECT_EQ(c["Digest"], skopeo_digest);
  json b = json::parse(run_command({"skopeo", "--insecure-policy", "inspect", "oci:" + dir / "b" + ":copied"}).out);
  EXPECT_EQ(c["Layers"], b["Layers"]);
  // A layout with several images: DIR:REF picks one.
  ASSERT_EQ(run_command({"skopeo", "--insecure-policy", "copy", "oci:" + dir / "a" + ":v1", "oci:" + dir / "b" + ":second"}).exit_code, 0);
  r = run_gantry(dir / "t", {"image", "import", dir / "b", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("SOURCE:REF"), std::string::npos) << r.err;
  EXPECT_EQ(run_gantry(dir / "t", {"image", "import", dir / "b:second", "x"}).exit_code, 0);
  EXPECT_EQ(run_gantry(dir / "t", {"fsck"}).exit_code, 0);
}

}  // namespace
}  // namespace gantry::cache
