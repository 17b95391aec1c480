// The registry client's error paths through the network seam: a scripted
// FakeTransport (tests/support/fake_transport.h) in place of libcurl and a
// FakeClock for the backoff, so retries, the 401 -> token -> retry dance, a
// truncated body, a blob that is not its digest and a manifest of the wrong
// media type are tested in milliseconds, without a registry or root.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "cache/image_store.h"
#include "cache/store.h"
#include "registry/registry_client.h"
#include "registry/transfer.h"
#include "tests/support/fake_clock.h"
#include "tests/support/fake_transport.h"
#include "tests/support/test_support.h"

namespace gantry::registry {
namespace {

using gantry::testing::FakeClock;
using gantry::testing::FakeReply;
using gantry::testing::FakeTransport;
using gantry::testing::ScratchDir;
using std::chrono::milliseconds;
using nlohmann::json;

const std::string kHost = "registry.test";
const std::string kBase = "https://registry.test";
const std::vector<std::pair<std::string, std::string>> kApi = {{"Docker-Distribution-API-Version", "registry/2.0"}};

// A one-layer image as a registry holds it: the layer is a real tar.
struct Image {
  std::string layer, config, manifest;
  Digest layer_digest = Digest::of(""), config_digest = Digest::of(""), manifest_digest = Digest::of("");
};

Image make_image(const std::string& dir) {
  gantry::testing::write_file(dir + "/content/hello.txt", "hello from a fake registry\n");
  auto tar = gantry::testing::run_command({"tar", "-C", dir + "/content", "--owner=0", "--group=0", "-cf",
                                           dir + "/layer.tar", "hello.txt"});
  EXPECT_EQ(tar.exit_code, 0) << tar.err;
  Image image;
  image.layer = gantry::testing::read_file_or_die(dir + "/layer.tar");
  image.layer_digest = Digest::of(image.layer);
  image.config = json{{"architecture", "amd64"},
                      {"os", "linux"},
                      {"config", json::object()},
                      {"rootfs", {{"type", "layers"}, {"diff_ids", {image.layer_digest.str()}}}}}
                     .dump();
  image.config_digest = Digest::of(image.config);
  image.manifest = json{{"schemaVersion", 2},
                        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                        {"config",
                         {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                          {"digest", image.config_digest.str()},
                          {"size", image.config.size()}}},
                        {"layers",
                         {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                           {"digest", image.layer_digest.str()},
                           {"size", image.layer.size()}}}}}
                       .dump();
  image.manifest_digest = Digest::of(image.manifest);
  return image;
}

std::string blob_url(const Digest& d) { return kBase + "/v2/team/app/blobs/" + d.str(); }
const std::string kManifestUrl = kBase + "/v2/team/app/manifests/1.0";

FakeReply manifest_reply(const std::string& bytes, const std::string& media_type) {
  return FakeReply::ok(bytes, {{"Content-Type", media_type}, {"Docker-Content-Digest", Digest::of(bytes).str()}});
}

class RegistryTransport : public ::testing::Test {
 protected:
  void SetUp() override {
    fake.on("GET", kBase + "/v2/", {FakeReply::status_only(200, kApi)});
    options.transport = &fake;
    options.clock = &clock;
    options.progress = false;
    options.auth_file = dir.path() + "/auth.json";  // absent: anonymous
  }

  void serve(const Image& image) {
    fake.on("GET", kManifestUrl, {manifest_reply(image.manifest, "application/vnd.oci.image.manifest.v1+json")});
    fake.on("GET", blob_url(image.config_digest), {FakeReply::ok(image.config)});
    fake.on("GET", blob_url(image.layer_digest), {FakeReply::ok(image.layer)});
  }

  std::unique_ptr<cache::Store> open_store() {
    auto store = cache::Store::open(dir.path() + "/store");
    EXPECT_TRUE(store) << store.error().message();
    return store ? std::move(*store) : nullptr;
  }

  std::unique_ptr<RegistryClient> connect(bool push = false) {
    auto client = RegistryClient::connect(kHost, options, push);
    EXPECT_TRUE(client) << client.error().message();
    return client ? std::move(*client) : nullptr;
  }

  ScratchDir dir;
  FakeTransport fake;
  FakeClock clock;
  RegistryOptions options;
};

// --- retries and backoff ---------------------------------------------------

TEST_F(RegistryTransport, A503IsRetriedAfter200And600ms_OnTheClock) {
  Image image = make_image(dir.path());
  fake.on("GET", kManifestUrl,
          {FakeReply::status_only(503), FakeReply::status_only(503),
           manifest_reply(image.manifest, "application/vnd.oci.image.manifest.v1+json")});
  auto client = connect();
  ASSERT_TRUE(client);
  auto start = clock.steady_now();
  auto m = client->get_manifest("team/app", "1.0");
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->digest, image.manifest_digest);
  EXPECT_EQ(fake.requests("GET", kManifestUrl).size(), 3u);
  EXPECT_EQ(clock.sleeps(), (std::vector<milliseconds>{milliseconds(200), milliseconds(600)}));
  EXPECT_EQ(clock.since(start), milliseconds(800));
}

TEST_F(RegistryTransport, BrokenConnections_AreRetriedOnANewConnection) {
  Image image = make_image(dir.path());
  fake.on("GET", blob_url(image.config_digest),
          {FakeReply::connection_reset(), FakeReply{.status = 502}, FakeReply::ok(image.config)});
  auto client = connect();
  ASSERT_TRUE(client);
  std::size_t opened = fake.connections_opened();
  std::string got;
  auto st = client->get_blob("team/app", image.config_digest, [&](std::string_view c) -> Status {
    got += c;
    return {};
  }, nullptr);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(got, image.config);
  EXPECT_EQ(fake.requests("GET", blob_url(image.config_digest)).size(), 3u);
  EXPECT_EQ(clock.sleeps(), (std::vector<milliseconds>{milliseconds(200), milliseconds(600)}));
  // The reset connection was dropped, not put back in the pool.
  EXPECT_EQ(fake.connections_opened(), opened + 1);
}

TEST_F(RegistryTransport, ThreeFailures_GiveUpWithTheLastStatus) {
  fake.on("GET", kManifestUrl, {FakeReply{.status = 504, .body = "upstream timed out"}});
  auto client = connect();
  ASSERT_TRUE(client);
  auto m = client->get_manifest("team/app", "1.0");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("HTTP 504"), std::string::npos) << m.error().message();
  EXPECT_NE(m.error().message().find("upstream timed out"), std::string::npos) << m.error().message();
  EXPECT_EQ(fake.requests("GET", kManifestUrl).size(), 3u);
  EXPECT_EQ(clock.sleeps().size(), 2u);
}

TEST_F(RegistryTransport, NotRetried_A500_A404_ATlsFailure_OrAPut) {
  fake.on("GET", kManifestUrl, {FakeReply::status_only(500)});
  fake.on("HEAD", kManifestUrl, {FakeReply{.broken = "SSL certificate problem", .tls = true}});
  fake.on("PUT", kManifestUrl, {FakeReply::status_only(503)});
  auto client = connect();
  ASSERT_TRUE(client);
  auto get = client->get_manifest("team/app", "1.0");
  ASSERT_FALSE(get);
  EXPECT_NE(get.error().message().find("HTTP 500"), std::string::npos) << get.error().message();
  auto missing = client->has_blob("team/app", Digest::of("nothing"));
  ASSERT_TRUE(missing) << missing.error().message();
  EXPECT_FALSE(*missing);
  auto head = client->head_manifest("team/app", "1.0");
  ASSERT_FALSE(head);
  EXPECT_NE(head.error().message().find("SSL certificate problem"), std::string::npos) << head.error().message();
  auto put = client->put_manifest("team/app", "1.0", "application/vnd.oci.image.manifest.v1+json", "{}");
  ASSERT_FALSE(put);
  EXPECT_NE(put.error().message().find("HTTP 503"), std::string::npos) << put.error().message();
  EXPECT_EQ(fake.requests("GET", kManifestUrl).size(), 1u);
  EXPECT_EQ(fake.requests("HEAD", blob_url(Digest::of("nothing"))).size(), 1u);
  EXPECT_EQ(fake.requests("HEAD", kManifestUrl).size(), 1u);
  EXPECT_EQ(fake.requests("PUT", kManifestUrl).size(), 1u);
  EXPECT_TRUE(clock.sleeps().empty());
}

// --- authentication --------------------------------------------------------

TEST_F(RegistryTransport, A401NamesTheTokenRealm_TheRequestIsRetriedWithTheBearerToken) {
  Image image = make_image(dir.path());
  const std::string realm = "https://auth.test/token";
  fake.on("GET", kManifestUrl,
          {FakeReply::status_only(401, {{"WWW-Authenticate", "Bearer realm=\"" + realm +
                                                                 "\",service=\"registry.test\",scope=\"x\""}}),
           manifest_reply(image.manifest, "application/vnd.oci.image.manifest.v1+json")});
  fake.on("GET", realm, {FakeReply::ok(R"({"token":"t-1"})")});
  auto client = connect();
  ASSERT_TRUE(client);
  auto m = client->get_manifest("team/app", "1.0");
  ASSERT_TRUE(m) << m.error().message();

  auto sent = fake.requests("GET", kManifestUrl);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_FALSE(sent[0].header("Authorization"));
  EXPECT_EQ(sent[1].header("Authorization").value_or(""), "Bearer t-1");
  auto token = fake.requests("GET", realm);
  ASSERT_EQ(token.size(), 1u);
  EXPECT_EQ(token[0].url, realm + "?service=registry.test&scope=repository%3Ateam%2Fapp%3Apull");
  // The token is cached per scope: the next request of the repository asks no new one.
  ASSERT_TRUE(client->get_manifest("team/app", "1.0"));
  EXPECT_EQ(fake.requests("GET", realm).size(), 1u);
  EXPECT_EQ(fake.requests("GET", kManifestUrl).back().header("Authorization").value_or(""), "Bearer t-1");
}

TEST_F(RegistryTransport, AnExpiredToken_IsFetchedAgainOnce_ThenTheRefusalIsReported) {
  const std::string realm = "https://auth.test/token";
  std::vector<std::pair<std::string, std::string>> challenge = {
      {"WWW-Authenticate", "Bearer realm=\"" + realm + "\",service=\"registry.test\""}};
  fake.on("GET", kBase + "/v2/", {FakeReply::status_only(401, challenge)});
  fake.on("GET", realm, {FakeReply::ok(R"({"token":"old"})"), FakeReply::ok(R"({"access_token":"new"})")});
  fake.on("GET", kManifestUrl, {FakeReply::status_only(401, challenge)});
  auto client = connect();
  ASSERT_TRUE(client);
  auto m = client->get_manifest("team/app", "1.0");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("authentication required by registry.test"), std::string::npos)
      << m.error().message();
  auto sent = fake.requests("GET", kManifestUrl);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].header("Authorization").value_or(""), "Bearer old");
  EXPECT_EQ(sent[1].header("Authorization").value_or(""), "Bearer new");
}

TEST_F(RegistryTransport, ATokenServerThatRefuses_IsNamedInTheError) {
  const std::string realm = "https://auth.test/token";
  fake.on("GET", kBase + "/v2/",
          {FakeReply::status_only(401, {{"WWW-Authenticate", "Bearer realm=\"" + realm + "\""}})});
  fake.on("GET", realm, {FakeReply{.status = 403, .body = R"({"errors":[{"code":"DENIED","message":"no"}]})"}});
  auto client = connect();
  ASSERT_TRUE(client);
  auto m = client->get_manifest("team/app", "1.0");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("token server " + realm), std::string::npos) << m.error().message();
  EXPECT_NE(m.error().message().find("DENIED"), std::string::npos) << m.error().message();
  EXPECT_TRUE(fake.requests("GET", kManifestUrl).empty());
}

// --- what arrives is checked -----------------------------------------------

TEST_F(RegistryTransport, Pull_ThroughTheFake_StoresAndTagsTheImage) {
  Image image = make_image(dir.path());
  serve(image);
  auto store = open_store();
  ASSERT_TRUE(store);
  auto pulled = pull_image(*store, kHost + "/team/app:1.0", options);
  ASSERT_TRUE(pulled) << pulled.error().message();
  EXPECT_EQ(pulled->manifest_digest, image.manifest_digest);
  EXPECT_TRUE(store->blobs().has(image.layer_digest));
  auto tagged = store->images().resolve(kHost + "/team/app:1.0");
  ASSERT_TRUE(tagged) << tagged.error().message();
  EXPECT_EQ(*tagged, image.manifest_digest);
}

TEST_F(RegistryTransport, ATruncatedLayer_LeavesNothingInTheStore_TheNextPullWorks) {
  Image image = make_image(dir.path());
  serve(image);
  fake.on("GET", blob_url(image.layer_digest), {FakeReply{.body = image.layer, .cut_after = 1000}});
  auto store = open_store();
  ASSERT_TRUE(store);
  auto pulled = pull_image(*store, kHost + "/team/app:1.0", options);
  ASSERT_FALSE(pulled);
  const std::string& msg = pulled.error().message();
  EXPECT_NE(msg.find("layer " + image.layer_digest.str()), std::string::npos) << msg;
  EXPECT_NE(msg.find("bytes remaining to read"), std::string::npos) << msg;
  // Body bytes had reached the store's writer: not retried, nothing published.
  EXPECT_EQ(fake.requests("GET", blob_url(image.layer_digest)).size(), 1u);
  EXPECT_FALSE(store->blobs().has(image.layer_digest));
  EXPECT_FALSE(store->images().resolve(kHost + "/team/app:1.0"));

  fake.on("GET", blob_url(image.layer_digest), {FakeReply::ok(image.layer)});
  auto again = pull_image(*store, kHost + "/team/app:1.0", options);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_TRUE(store->blobs().has(image.layer_digest));
}

TEST_F(RegistryTransport, ABodyShorterThanItsDescriptor_IsReportedAsTruncated) {
  Image image = make_image(dir.path());
  serve(image);
  fake.on("GET", blob_url(image.layer_digest), {FakeReply::ok(image.layer.substr(0, 512))});
  auto store = open_store();
  ASSERT_TRUE(store);
  auto pulled = pull_image(*store, kHost + "/team/app:1.0", options);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().kind(), ErrorKind::corrupt);
  EXPECT_NE(pulled.error().message().find("truncated: got 512 of " + std::to_string(image.layer.size())),
            std::string::npos)
      << pulled.error().message();
  EXPECT_FALSE(store->blobs().has(image.layer_digest));
}

TEST_F(RegistryTransport, ABlobWhoseBytesAreNotItsDigest_IsRefused) {
  Image image = make_image(dir.path());
  serve(image);
  std::string forged = image.layer;
  forged[forged.size() / 2] ^= 0x20;  // same size, other bytes
  fake.on("GET", blob_url(image.layer_digest), {FakeReply::ok(forged)});
  auto store = open_store();
  ASSERT_TRUE(store);
  auto pulled = pull_image(*store, kHost + "/team/app:1.0", options);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().kind(), ErrorKind::corrupt) << pulled.error().message();
  EXPECT_NE(pulled.error().message().find(image.layer_digest.str()), std::string::npos) << pulled.error().message();
  EXPECT_FALSE(store->blobs().has(image.layer_digest));
  EXPECT_FALSE(store->blobs().has(Digest::of(forged)));
  EXPECT_FALSE(store->images().resolve(kHost + "/team/app:1.0"));
}

TEST_F(RegistryTransport, AManifestThatIsNotTheDigestAskedFor_IsRefused) {
  Image image = make_image(dir.path());
  serve(image);
  std::string other = image.manifest + " ";
  fake.on("GET", kBase + "/v2/team/app/manifests/" + image.manifest_digest.str(),
          {FakeReply::ok(other, {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}})});
  auto store = open_store();
  ASSERT_TRUE(store);
  auto pulled = pull_image(*store, kHost + "/team/app@" + image.manifest_digest.str(), options);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().kind(), ErrorKind::corrupt);
  EXPECT_NE(pulled.error().message().find("arrived with digest " + Digest::of(other).str()), std::string::npos)
      << pulled.error().message();
}

TEST_F(RegistryTransport, AManifestOfAnotherMediaType_IsRefusedBeforeAnyBlobIsFetched) {
  Image image = make_image(dir.path());
  serve(image);
  json artifact = json::parse(image.manifest);
  artifact["mediaType"] = "application/vnd.docker.distribution.manifest.v1+prettyjws";
  std::string bytes = artifact.dump();
  fake.on("GET", kManifestUrl, {manifest_reply(bytes, "application/vnd.docker.distribution.manifest.v1+prettyjws")});
  auto store = open_store();
  ASSERT_TRUE(store);
  auto pulled = pull_image(*store, kHost + "/team/app:1.0", options);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().kind(), ErrorKind::invalid_input);
  EXPECT_NE(pulled.error().message().find(
                "unsupported manifest media type 'application/vnd.docker.distribution.manifest.v1+prettyjws'"),
            std::string::npos)
      << pulled.error().message();
  EXPECT_TRUE(fake.requests("GET", blob_url(image.config_digest)).empty());
  EXPECT_TRUE(fake.requests("GET", blob_url(image.layer_digest)).empty());
}

TEST_F(RegistryTransport, AManifestTheRegistryLabelsWithAnotherDigest_IsRefused) {
  Image image = make_image(dir.path());
  fake.on("GET", kManifestUrl,
          {FakeReply::ok(image.manifest, {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"},
                                          {"Docker-Content-Digest", Digest::of("x").str()}})});
  auto client = connect();
  ASSERT_TRUE(client);
  auto m = client->get_manifest("team/app", "1.0");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind(), ErrorKind::corrupt);
  EXPECT_NE(m.error().message().find("but the registry says " + Digest::of("x").str()), std::string::npos)
      << m.error().message();
}

}  // namespace
}  // namespace gantry::registry
