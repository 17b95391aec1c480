// Push and pull against a real docker-registry on loopback, through the
// gantry binary: round trips keep digests, only missing blobs move, digest
// references are not fetched again, interrupted pulls resume.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cache/image_store.h"
#include "cache/layer_unpacker.h"
#include "cache/layer_verify.h"
#include "cache/store.h"

#include "tests/registry/local_registry.h"
#include "tests/registry/test_images.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

using nlohmann::json;

json gantry_json(const std::string& store, const std::vector<std::string>& args) {
  auto r = run_gantry(store, args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return json::object();
  return json::parse(r.out);
}

class PushPull : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(registry_.error(), ""); }
  std::string ref(const std::string& repo_tag) const { return registry_.host() + "/" + repo_tag; }
  LocalRegistry registry_;
  ScratchDir dir_;
};

TEST_F(PushPull, RoundTripKeepsTheDigestAndTheImageIsUsable) {
  Digest local = make_test_image(dir_ / "a", "app:1", 300 * 1024, 1);
  json pushed = gantry_json(dir_ / "a", {"image", "push", "app:1", ref("team/app:1"), "--json"});
  EXPECT_EQ(pushed["digest"], local.str());
  EXPECT_EQ(pushed["counts"]["blobs_uploaded"], 3);  // config + 2 layers
  EXPECT_EQ(skopeo_manifest_digest("docker://" + ref("team/app:1")), local.str());

  json pulled = gantry_json(dir_ / "b", {"image", "pull", ref("team/app:1"), "--json"});
  EXPECT_EQ(pulled["digest"], local.str());
  EXPECT_EQ(pulled["counts"]["blobs_downloaded"], 3);
  EXPECT_EQ(resolve_in_store(dir_ / "b", ref("team/app:1")), local.str());
  auto inspect = run_gantry(dir_ / "b", {"image", "inspect", ref("team/app:1")});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find(local.str()), std::string::npos);
  auto fsck = run_gantry(dir_ / "b", {"fsck"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
}

TEST_F(PushPull, SecondPushUploadsNoBlob) {
  Digest local = make_test_image(dir_ / "a", "app:1", 100 * 1024, 2);
  gantry_json(dir_ / "a", {"image", "push", "app:1", ref("team/app:1"), "--json"});
  json again = gantry_json(dir_ / "a", {"image", "push", "app:1", ref("team/app:1"), "--json"});
  EXPECT_EQ(again["digest"], local.str());
  EXPECT_EQ(again["tag_only"], true);
  EXPECT_EQ(again["counts"]["blobs_uploaded"], 0);
  EXPECT_EQ(again["counts"]["bytes_uploaded"], 0);
  // A new tag of the same image: still only the manifest moves.
  json tagged = gantry_json(dir_ / "a", {"image", "push", "app:1", ref("team/app:prod"), "--json"});
  EXPECT_EQ(tagged["tag_only"], true);
  EXPECT_EQ(tagged["counts"]["blobs_uploaded"], 0);
  EXPECT_EQ(skopeo_manifest_digest("docker://" + ref("team/app:prod")), local.str());
}

TEST_F(PushPull, PushToAnotherRepositoryMountsInsteadOfUploading) {
  make_test_image(dir_ / "a", "app:1", 100 * 1024, 3);
  gantry_json(dir_ / "a", {"image", "push", "app:1", ref("team/app:1"), "--json"});
  json other = gantry_json(dir_ / "a", {"image", "push", "app:1", ref("elsewhere/app:1"), "--json"});
  EXPECT_EQ(other["counts"]["blobs_uploaded"], 0);
  EXPECT_EQ(other["counts"]["blobs_mounted"], 3);
  json pulled = gantry_json(dir_ / "b", {"image", "pull", ref("elsewhere/app:1"), "--json"});
  EXPECT_EQ(pulled["digest"], other["digest"]);
}

TEST_F(PushPull, OnlyTheChangedLayerIsUploadedAndDownloaded) {
  make_test_image(dir_ / "a", "app:1", 100 * 1024, 4);
  gantry_json(dir_ / "a", {"image", "push", "app:1", ref("team/app:1"), "--json"});
  gantry_json(dir_ / "b", {"image", "pull", ref("team/app:1"), "--json"});
  make_test_image(dir_ / "a", "app:2", 100 * 1024, 5);  // same busybox layer, new data layer
  json pushed = gantry_json(dir_ / "a", {"image", "push", "app:2", ref("team/app:2"), "--json"});
  EXPECT_EQ(pushed["counts"]["blobs_uploaded"], 2);  // config + the new layer
  EXPECT_EQ(pushed["counts"]["blobs_present"], 1);
  json pulled = gantry_json(dir_ / "b", {"image", "pull", ref("team/app:2"), "--json"});
  EXPECT_EQ(pulled["counts"]["blobs_downloaded"], 2);
}

TEST_F(PushPull, ChunkedUploadRoundTrips) {
  Digest local = make_test_image(dir_ / "a", "app:1", 700 * 1024, 6);
  json pushed = gantry_json(dir_ / "a", {"image", "push", "app:1", ref("team/chunked:1"), "--chunk-size", "128k", "--json"});
  EXPECT_EQ(pushed["digest"], local.str());
  EXPECT_GT(pushed["counts"]["requests"].get<int>(), 10);  // several PATCH requests
  json pulled = gantry_json(dir_ / "b", {"image", "pull", ref("team/chunked:1"), "--json"});
  EXPECT_EQ(pulled["digest"], local.str());
}

TEST_F(PushPull, DigestReferenceIsNeverFetchedTwice) {
  Digest local = make_test_image(dir_ / "a", "app:1", 10 * 1024, 7);
  gantry_json(dir_ / "a", {"image", "push", "app:1", ref("team/app:1"), "--json"});
  std::string by_digest = ref("team/app@") + local.str();
  json first = gantry_json(dir_ / "b", {"image", "pull", by_digest, "--json"});
  EXPECT_EQ(first["from_store"], false);
  json second = gantry_json(dir_ / "b", {"image", "pull", by_digest, "--json"});
  EXPECT_EQ(second["from_store"], true);
  EXPECT_EQ(second["counts"]["requests"], 0);
  EXPECT_EQ(resolve_in_store(dir_ / "b", by_digest), local.str());
}

TEST_F(PushPull, PullResumesFromTheBlobsAlreadyThere) {
  make_test_image(dir_ / "a", "app:1", 10 * 1024, 8);
  gantry_json(dir_ / "a", {"image", "push", "app:1", ref("team/app:1"), "--json"});
  // Store b already holds the image's blobs (as after an interrupted pull).
  make_test_image(dir_ / "b", "app:1", 10 * 1024, 8);
  json pulled = gantry_json(dir_ / "b", {"image", "pull", ref("team/app:1"), "--json"});
  EXPECT_EQ(pulled["counts"]["blobs_downloaded"], 0);
  EXPECT_EQ(resolve_in_store(dir_ / "b", ref("team/app:1")), pulled["digest"]);
}

TEST_F(PushPull, MissingTagAndUnreachableRegistryNameTheReference) {
  auto missing = run_gantry(dir_ / "b", {"image", "pull", ref("team/nothing:1")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find(ref("team/nothing:1")), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("MANIFEST_UNKNOWN"), std::string::npos) << missing.err;
  std::string dead = "127.0.0.1:" + std::to_string(free_port()) + "/team/app:1";
  auto unreachable = run_gantry(dir_ / "b", {"image", "pull", dead});
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_NE(unreachable.err.find(dead), std::string::npos) << unreachable.err;
  EXPECT_EQ(resolve_in_store(dir_ / "b", ref("team/nothing:1")), "");
}

// The pull unpacks each layer as it arrives (registry/pull.cpp): after it,
// every layers/<diff_id> is there, the same tree the lazy path gives.
TEST_F(PushPull, PullUnpacksEveryLayer_TheTreesAreTheOnesUnpackingEachBlobGives) {
  Digest local = make_test_image(dir_ / "a", "app:1", 300 * 1024, 7);
  gantry_json(dir_ / "a", {"image", "push", "app:1", ref("team/app:1"), "--json"});
  gantry_json(dir_ / "b", {"image", "pull", ref("team/app:1"), "--json"});
  auto a = cache::Store::open(dir_ / "a");
  auto b = cache::Store::open(dir_ / "b");
  ASSERT_TRUE(a && b);
  auto image = (*b)->images().load(local);
  ASSERT_TRUE(image) << image.error().message();
  ASSERT_EQ(image->layers.size(), 2u);
  for (const auto& layer : image->layers) {
    SCOPED_TRACE(layer.digest.str());
    std::string pulled = (*b)->paths().layer_dir(layer.diff_id);
    struct stat st {};
    ASSERT_EQ(::stat(pulled.c_str(), &st), 0) << "the pull left the layer to the first container";
    auto lazy = cache::ensure_unpacked(**a, layer);  // the source store unpacks it as a container would
    ASSERT_TRUE(lazy) << lazy.error().message();
    auto want = cache::describe_tree(*lazy);
    auto got = cache::describe_tree(pulled);
    ASSERT_TRUE(want && got);
    EXPECT_EQ(*got, *want);
  }
  auto fsck = run_gantry(dir_ / "b", {"fsck", "--deep"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
}

TEST_F(PushPull, FirstExecOfAPulledImageUnpacksNothing) {
  GANTRY_REQUIRE_ROOT();  // gantry exec needs namespaces
  Digest local = make_test_image(dir_ / "a", "app:1", 100 * 1024, 8);
  gantry_json(dir_ / "a", {"image", "push", "app:1", ref("team/app:1"), "--json"});
  gantry_json(dir_ / "b", {"image", "pull", ref("team/app:1"), "--json"});
  {
    auto b = cache::Store::open(dir_ / "b");
    ASSERT_TRUE(b);
    auto image = (*b)->images().load(local);
    ASSERT_TRUE(image) << image.error().message();
    // Without the layers' blobs an unpack fails: the exec runs on what the pull published.
    for (const auto& layer : image->layers) ASSERT_EQ(::unlink((*b)->blobs().path(layer.digest).c_str()), 0);
  }
  auto ran = run_gantry(dir_ / "b", {"exec", ref("team/app:1"), "--", "sh", "/app/hello.sh"});
  EXPECT_EQ(ran.exit_code, 0) << ran.err;
  EXPECT_EQ(ran.out, "hello from the registry\n");
}

}  // namespace
}  // namespace gantry::testing
