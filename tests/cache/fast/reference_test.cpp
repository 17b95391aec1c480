#include "cache/image_store.h"
#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

TEST(Reference, TagDefaultsToLatest) {
  auto r = Reference::parse("busybox");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->name, "busybox");
  EXPECT_EQ(r->tag, "latest");
  EXPECT_FALSE(r->digest);
  EXPECT_EQ(r->str(), "busybox:latest");
}

TEST(Reference, RegistryHostPortAndPathsAreNames) {
  auto r = Reference::parse("127.0.0.1:5000/team/base:1.2");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->name, "127.0.0.1:5000/team/base");
  EXPECT_EQ(r->tag, "1.2");
  r = Reference::parse("localhost:5000/app");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->name, "localhost:5000/app");
  EXPECT_EQ(r->tag, "latest");
}

TEST(Reference, DigestForms) {
  std::string d = Digest::of("x").str();
  auto bare = Reference::parse(d);
  ASSERT_TRUE(bare);
  EXPECT_TRUE(bare->name.empty());
  EXPECT_EQ(bare->digest->str(), d);
  auto named = Reference::parse("app@" + d);
  ASSERT_TRUE(named);
  EXPECT_EQ(named->name, "app");
  EXPECT_EQ(named->str(), "app@" + d);
}

TEST(Reference, MalformedOnesAreRejectedWithReason) {
  for (const char* bad : {"", "UPPER", "a//b", "/abs", "name:", "name:-tag", "sha256:abc", "app@sha256:zz", "a b", "trailing/"}) {
    auto r = Reference::parse(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().kind(), ErrorKind::invalid_input) << bad;
    }
  }
}

TEST(ImageConfig, RoundTripKeepsUnknownFieldsAndIsCanonical) {
  std::string text = R"({"os":"linux","architecture":"amd64","config":{"Env":["A=1"],"Healthcheck":{"Test":["x"]}},)"
                     R"("rootfs":{"type":"layers","diff_ids":[]},"custom":42})";
  auto c = ImageConfig::parse(text);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->env_value("A"), "1");
  c->env.push_back("B=2");
  c->working_dir = "/app";
  std::string out = c->to_json();
  EXPECT_NE(out.find("\"custom\":42"), std::string::npos) << out;
  EXPECT_NE(out.find("Healthcheck"), std::string::npos) << out;
  EXPECT_NE(out.find("\"WorkingDir\":\"/app\""), std::string::npos) << out;
  EXPECT_LT(out.find("\"architecture\""), out.find("\"config\"")) << "keys sorted";
  auto again = ImageConfig::parse(out);
  EXPECT_EQ(again->to_json(), out) << "stable";
}

}  // namespace
}  // namespace gantry::cache
