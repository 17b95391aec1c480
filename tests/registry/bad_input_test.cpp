// What a registry can do wrong: corrupt or truncated blobs (served by a
// tampering proxy), manifests that do not match their digest, indexes
// without linux/amd64, media types gantry cannot run. Each is a clear error
// naming the reference, and nothing partial lands in the store.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "registry/registry_client.h"
#include "tests/registry/local_registry.h"
#include "tests/registry/tamper_proxy.h"
#include "tests/registry/test_images.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

using nlohmann::json;

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(registry_.error(), "");
    local_ = make_test_image(dir_ / "a", "app:1", 256 * 1024, 31);
    auto push = run_gantry(dir_ / "a", {"image", "push", "app:1", registry_.host() + "/team/app:1"});
    ASSERT_EQ(push.exit_code, 0) << push.err;
    auto raw = run_command({"skopeo", "inspect", "--tls-verify=false", "--raw", "docker://" + registry_.host() + "/team/app:1"});
    ASSERT_EQ(raw.exit_code, 0) << raw.err;
    manifest_ = json::parse(raw.out);
    data_layer_ = manifest_["layers"][1]["digest"];
  }
  bool store_has_blob(const std::string& store, const std::string& digest) {
    return ::access((store + "/blobs/sha256/" + digest.substr(7)).c_str(), F_OK) == 0;
  }
  std::unique_ptr<registry::RegistryClient> client() {
    auto c = registry::RegistryClient::connect(registry_.host(), {}, true);
    EXPECT_TRUE(c) << c.error().message();
    return std::move(*c);
  }

  LocalRegistry registry_;
  ScratchDir dir_;
  Digest local_ = Digest::of("");
  json manifest_;
  std::string data_layer_;
};

TEST_F(BadInput, CorruptBlobIsRejectedAndALaterPullResumes) {
  TamperProxy proxy(registry_.port(), TamperProxy::Mode::flip, data_layer_.substr(7));
  std::string via_proxy = proxy.host() + "/team/app:1";
  auto pull = run_gantry(dir_ / "b", {"image", "pull", via_proxy});
  EXPECT_EQ(pull.exit_code, 1);
  EXPECT_GE(proxy.tampered(), 1);
  EXPECT_NE(pull.err.find(via_proxy), std::string::npos) << pull.err;
  EXPECT_NE(pull.err.find(data_layer_), std::string::npos) << pull.err;
  EXPECT_FALSE(store_has_blob(dir_ / "b", data_layer_));
  EXPECT_EQ(resolve_in_store(dir_ / "b", via_proxy), "");

  auto direct = run_gantry(dir_ / "b", {"image", "pull", registry_.host() + "/team/app:1", "--json"});
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  EXPECT_EQ(json::parse(direct.out)["counts"]["blobs_downloaded"], 1);  // the rest was kept
  EXPECT_EQ(resolve_in_store(dir_ / "b", registry_.host() + "/team/app:1"), local_.str());
}

TEST_F(BadInput, TruncatedBlobIsRejected) {
  TamperProxy proxy(registry_.port(), TamperProxy::Mode::truncate, data_layer_.substr(7));
  std::string via_proxy = proxy.host() + "/team/app:1";
  auto pull = run_gantry(dir_ / "b", {"image", "pull", via_proxy});
  EXPECT_EQ(pull.exit_code, 1);
  EXPECT_GE(proxy.tampered(), 1);
  EXPECT_NE(pull.err.find(via_proxy), std::string::npos) << pull.err;
  EXPECT_FALSE(store_has_blob(dir_ / "b", data_layer_));
  EXPECT_EQ(resolve_in_store(dir_ / "b", via_proxy), "");
}

TEST_F(BadInput, ManifestNotMatchingItsDigestIsRejected) {
  TamperProxy proxy(registry_.port(), TamperProxy::Mode::flip, "/manifests/");
  for (std::string r : {proxy.host() + "/team/app:1", proxy.host() + "/team/app@" + local_.str()}) {
    SCOPED_TRACE(r);
    auto pull = run_gantry(dir_ / "b", {"image", "pull", r});
    EXPECT_EQ(pull.exit_code, 1);
    EXPECT_NE(pull.err.find("digest"), std::string::npos) << pull.err;
    EXPECT_FALSE(store_has_blob(dir_ / "b", local_.str()));
  }
}

TEST_F(BadInput, IndexSelectsLinuxAmd64OrSaysWhatItHas) {
  auto c = client();
  ASSERT_TRUE(c);
  std::string size = std::to_string(read_file_or_die(dir_ / "a/blobs/sha256" + ("/" + local_.hex())).size());
  auto entry = [&](const std::string& arch) {
    return json{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                {"digest", local_.str()},
                {"size", std::stoll(size)},
                {"platform", {{"os", "linux"}, {"architecture", arch}}}};
  };
  json multi = {{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"},
                {"manifests", {entry("arm64"), entry("amd64")}}};
  json arm_only = {{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"},
                   {"manifests", {entry("arm64")}}};
  ASSERT_TRUE(c->put_manifest("team/app", "multi", "application/vnd.oci.image.index.v1+json", multi.dump()));
  ASSERT_TRUE(c->put_manifest("team/app", "arm", "application/vnd.oci.image.index.v1+json", arm_only.dump()));

  auto pull = run_gantry(dir_ / "b", {"image", "pull", registry_.host() + "/team/app:multi", "--json"});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  EXPECT_EQ(json::parse(pull.out)["digest"], local_.str());
  auto arm = run_gantry(dir_ / "c", {"image", "pull", registry_.host() + "/team/app:arm"});
  EXPECT_EQ(arm.exit_code, 1);
  EXPECT_NE(arm.err.find("linux/amd64"), std::string::npos) << arm.err;
  EXPECT_NE(arm.err.find("linux/arm64"), std::string::npos) << arm.err;
  EXPECT_NE(arm.err.find(registry_.host() + "/team/app:arm"), std::string::npos) << arm.err;
}

TEST_F(BadInput, UnsupportedLayerMediaTypeIsRejected) {
  auto c = client();
  ASSERT_TRUE(c);
  json weird = manifest_;
  weird["layers"][1]["mediaType"] = "application/vnd.example.strange.layer";
  auto put = c->put_manifest("team/app", "weird", weird.value("mediaType", "application/vnd.oci.image.manifest.v1+json"),
                             weird.dump());
  ASSERT_TRUE(put) << put.error().message();
  auto pull = run_gantry(dir_ / "b", {"image", "pull", registry_.host() + "/team/app:weird"});
  EXPECT_EQ(pull.exit_code, 1);
  EXPECT_NE(pull.err.find("unsupported layer media type"), std::string::npos) << pull.err;
  EXPECT_EQ(resolve_in_store(dir_ / "b", registry_.host() + "/team/app:weird"), "");
}

}  // namespace
}  // namespace gantry::testing
