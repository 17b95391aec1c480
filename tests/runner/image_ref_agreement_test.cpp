// The store (cache::Reference) and the registry client (registry::RegistryRef)
// read references with the one grammar of common/image_ref.h: what one
// accepts the other accepts, and they split it the same way.
#include <gtest/gtest.h>

#include "cache/image_store.h"
#include "common/image_ref.h"
#include "registry/reference.h"

namespace gantry {
namespace {

TEST(ImageRefAgreement, StoreAndRegistryAcceptAndRefuseTheSameReferences) {
  const std::string d = Digest::of("x").str();
  for (const std::string& text :
       {std::string("busybox"), std::string("busybox:1.36"), std::string("team/app:v1"), "app@" + d,
        std::string("127.0.0.1:5000/team/base:1.2"), "localhost:5000/app:t@" + d, std::string("[::1]:5000/app"),
        std::string("UPPER"), std::string("a//b"), std::string("name:-tag"), std::string("bad_host.-x/app"),
        std::string("localhost/"), std::string("a..b"), std::string("app@sha256:zz"), std::string("x y")}) {
    auto parts = parse_image_ref(text);
    auto store = cache::Reference::parse(text);
    auto remote = registry::RegistryRef::parse(text);
    EXPECT_EQ(bool(parts), bool(store)) << text;
    EXPECT_EQ(bool(parts), bool(remote)) << text;
    if (!parts || !store || !remote) continue;
    EXPECT_EQ(store->digest, parts->digest) << text;
    EXPECT_EQ(remote->digest, parts->digest) << text;
    if (!parts->host.empty()) {
      EXPECT_EQ(store->name, remote->name()) << text;  // a named registry: the same name in both
    } else {
      EXPECT_EQ(store->name, parts->path) << text;
      EXPECT_EQ(remote->host, "docker.io") << text;
    }
    if (!parts->digest) {
      EXPECT_EQ(store->tag, parts->tag.empty() ? "latest" : parts->tag) << text;
      EXPECT_EQ(remote->tag, store->tag) << text;
    }
  }
}

}  // namespace
}  // namespace gantry
