// Issue 10.4 through a registry: an image whose layer blob holds /EVIL but
// whose config claims busybox's diff_id, pulled into a store that already has
// busybox unpacked. Before the fix the pull recorded the claim unchecked and
// every run of the image got busybox's tree (and a re-push spread the forgery).
// A layer compressed with zstd but labelled gzip is refused the same way.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cache/image_store.h"
#include "cache/layer_unpacker.h"
#include "cache/store.h"
#include "registry/registry_client.h"
#include "tests/registry/local_registry.h"
#include "tests/registry/test_images.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

using nlohmann::json;

class ForgedLayer : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(registry_.error(), "");
    make_test_image(dir_ / "b", "app:1", 1024, 5);
    auto store = cache::Store::open(dir_ / "b");
    ASSERT_TRUE(store) << store.error().message();
    auto image = (*store)->images().load(*(*store)->images().resolve("app:1"));
    ASSERT_TRUE(image) << image.error().message();
    busybox_ = image->layers[0];
    auto unpacked = cache::ensure_unpacked(**store, busybox_);
    ASSERT_TRUE(unpacked) << unpacked.error().message();
    busybox_dir_ = *unpacked;
    before_ = listing();
  }

  std::string listing() { return run_shell("cd " + busybox_dir_ + " && find . -printf '%p %m %s %U\\n' | sort").out; }

  Digest upload(registry::RegistryClient& client, const std::string& path) {
    std::string bytes = read_file_or_die(path);
    Digest d = Digest::of(bytes);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    auto st = client.upload_blob("team/forged", d, fd, bytes.size(), {});
    ::close(fd);
    EXPECT_TRUE(st) << st.error().message();
    return d;
  }

  // Pushes a one-layer image: the blob at layer_path declared gzip, with diff_id.
  void push_forged(const std::string& tag, const std::string& layer_path, const Digest& diff_id) {
    auto client = registry::RegistryClient::connect(registry_.host(), {}, true);
    ASSERT_TRUE(client) << client.error().message();
    Digest layer = upload(**client, layer_path);
    std::string config = json{{"architecture", "amd64"},
                              {"os", "linux"},
                              {"config", json::object()},
                              {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id.str()}}}}}
                             .dump();
    write_file(dir_ / "config.json", config);
    Digest config_digest = upload(**client, dir_ / "config.json");
    std::string manifest =
        json{{"schemaVersion", 2},
             {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
             {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", config_digest.str()}, {"size", config.size()}}},
             {"layers",
              {{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                {"digest", layer.str()},
                {"size", read_file_or_die(layer_path).size()}}}}}
            .dump();
    auto put = (*client)->put_manifest("team/forged", tag, "application/vnd.oci.image.manifest.v1+json", manifest);
    ASSERT_TRUE(put) << put.error().message();
    forged_layer_ = layer;
  }

  void expect_pull_refused(const std::string& tag, const std::string& needle) {
    std::string ref = registry_.host() + "/team/forged:" + tag;
    auto pull = run_gantry(dir_ / "b", {"image", "pull", ref});
    EXPECT_EQ(pull.exit_code, 1) << pull.out << pull.err;
    EXPECT_NE(pull.err.find(needle), std::string::npos) << pull.err;
    EXPECT_NE(pull.err.find(forged_layer_.str()), std::string::npos) << "the error names the layer: " << pull.err;
    EXPECT_EQ(resolve_in_store(dir_ / "b", ref), "");
    EXPECT_NE(::access((dir_ / "b/blobs/sha256/" + forged_layer_.hex()).c_str(), F_OK), 0) << "the refused blob stayed";
    EXPECT_EQ(listing(), before_) << "busybox's unpacked layer changed";
    struct stat st {};
    EXPECT_NE(::lstat((busybox_dir_ + "/EVIL").c_str(), &st), 0);
    auto fsck = run_gantry(dir_ / "b", {"fsck"});
    EXPECT_EQ(fsck.exit_code, 0) << fsck.out;
  }

  LocalRegistry registry_;
  ScratchDir dir_;
  cache::LayerDescriptor busybox_{Digest::of(""), Digest::of(""), 0};
  std::string busybox_dir_;
  std::string before_;
  Digest forged_layer_ = Digest::of("");
};

TEST_F(ForgedLayer, LayerWhoseDiffIdIsForgedIsRefusedOnPull) {
  ASSERT_EQ(run_shell("mkdir -p " + dir_ / "evil" + " && echo owned > " + dir_ / "evil/EVIL" + " && tar -czf " +
                      dir_ / "evil.tar.gz" + " -C " + dir_ / "evil" + " EVIL")
                .exit_code,
            0);
  push_forged("1", dir_ / "evil.tar.gz", busybox_.diff_id);
  expect_pull_refused("1", "does not match its diff_id");
}

TEST_F(ForgedLayer, ZstdLayerLabelledGzipIsRefusedOnPull) {
  ASSERT_EQ(run_shell("mkdir -p " + dir_ / "z" + " && echo hi > " + dir_ / "z/hello" + " && tar -cf " + dir_ / "z.tar" +
                      " -C " + dir_ / "z" + " hello && zstd -q " + dir_ / "z.tar" + " -o " + dir_ / "z.tar.zst")
                .exit_code,
            0);
  push_forged("2", dir_ / "z.tar.zst", Digest::of(read_file_or_die(dir_ / "z.tar")));
  expect_pull_refused("2", "media type says gzip but its bytes are zstd");
}

}  // namespace
}  // namespace gantry::testing
