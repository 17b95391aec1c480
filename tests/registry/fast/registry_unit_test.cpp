// Unit tests of the parts of registry/ that need no server: references,
// WWW-Authenticate challenges, auth files, index platform selection.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "registry/auth_challenge.h"
#include "registry/credentials.h"
#include "registry/media_types.h"
#include "registry/reference.h"
#include "tests/support/test_support.h"

namespace gantry::registry {
namespace {

using gantry::testing::ScratchDir;
using gantry::testing::write_file;

TEST(RegistryRef, ParsesHostPortRepoAndTag) {
  auto r = RegistryRef::parse("127.0.0.1:5000/team/base:1.2");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->host, "127.0.0.1:5000");
  EXPECT_EQ(r->repository, "team/base");
  EXPECT_EQ(r->tag, "1.2");
  EXPECT_FALSE(r->digest);
  EXPECT_EQ(r->str(), "127.0.0.1:5000/team/base:1.2");
  EXPECT_EQ(r->name(), "127.0.0.1:5000/team/base");
}

TEST(RegistryRef, ParsesDigestAndDefaultsToLatest) {
  std::string hex(64, 'a');
  auto d = RegistryRef::parse("localhost/app@sha256:" + hex);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->host, "localhost");
  EXPECT_EQ(d->repository, "app");
  EXPECT_TRUE(d->tag.empty());
  EXPECT_EQ(d->manifest_reference(), "sha256:" + hex);
  auto l = RegistryRef::parse("registry.example.com/team/base");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->tag, "latest");
}

TEST(RegistryRef, AppliesDockerHubDefaults) {
  auto r = RegistryRef::parse("busybox");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "docker.io");
  EXPECT_EQ(r->repository, "library/busybox");
  EXPECT_EQ(r->api_host(), "registry-1.docker.io");
  auto u = RegistryRef::parse("someone/tool:v1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "docker.io");
  EXPECT_EQ(u->repository, "someone/tool");
}

TEST(RegistryRef, RejectsMalformedReferences) {
  EXPECT_FALSE(RegistryRef::parse(""));
  EXPECT_FALSE(RegistryRef::parse("127.0.0.1:5000/Team/base"));  // uppercase repository
  EXPECT_FALSE(RegistryRef::parse("host.io/a:b:c"));
  EXPECT_FALSE(RegistryRef::parse("host.io/app@sha256:1234"));
  auto e = RegistryRef::parse("host.io/a b");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message().find("host.io/a b"), std::string::npos);
}

TEST(RegistryRef, KnowsLoopbackHosts) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1:5000"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("[::1]:443"));
  EXPECT_FALSE(is_loopback_host("registry.example.com:5000"));
}

TEST(RegistryRef, TellsRegistryReferencesFromLocalNames) {
  EXPECT_TRUE(names_registry_host("127.0.0.1:5000/team/base:1.2"));
  EXPECT_TRUE(names_registry_host("localhost/app"));
  EXPECT_TRUE(names_registry_host("registry.example.com/team/base@sha256:" + std::string(64, 'a')));
  EXPECT_FALSE(names_registry_host("busybox"));
  EXPECT_FALSE(names_registry_host("app:1"));
  EXPECT_FALSE(names_registry_host("team/app:1"));
}

// Issue 10.10: which token realms may receive the registry's credentials.
TEST(AuthChallenge, CredentialsGoOnlyToTlsRealmsOrTheRegistryItself) {
  // The registry's own host:port, also over plain HTTP (default ports spelled or not).
  EXPECT_TRUE(realm_may_receive_credentials("http://127.0.0.1:5000", "http://127.0.0.1:5000/token?x=1", true));
  EXPECT_TRUE(realm_may_receive_credentials("http://Reg.Example:80", "http://reg.example/auth", false));
  EXPECT_TRUE(realm_may_receive_credentials("https://reg.example", "https://reg.example:443/auth", false));
  // Another host or port over plain HTTP: never.
  EXPECT_FALSE(realm_may_receive_credentials("http://127.0.0.1:5000", "http://127.0.0.1:5001/token", true));
  EXPECT_FALSE(realm_may_receive_credentials("https://reg.example", "http://auth.example/token", true));
  EXPECT_FALSE(realm_may_receive_credentials("http://reg.example", "http://reg.example@evil.example/token", true));
  // HTTPS elsewhere: only with a verified certificate.
  EXPECT_TRUE(realm_may_receive_credentials("https://reg.example", "https://auth.example/token", true));
  EXPECT_FALSE(realm_may_receive_credentials("https://reg.example", "https://auth.example/token", false));
  // Not a URL, or another scheme.
  EXPECT_FALSE(realm_may_receive_credentials("https://reg.example", "auth.example/token", true));
  EXPECT_FALSE(realm_may_receive_credentials("https://reg.example", "ftp://reg.example/token", true));
}

TEST(AuthChallenge, ParsesBearerWithQuotedCommas) {
  auto chs = parse_www_authenticate(
      R"(Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push")");
  ASSERT_EQ(chs.size(), 1u);
  EXPECT_EQ(chs[0].scheme, "bearer");
  EXPECT_EQ(chs[0].param("realm"), "https://auth.example.com/token");
  EXPECT_EQ(chs[0].param("service"), "registry.example.com");
  EXPECT_EQ(chs[0].param("scope"), "repository:a/b:pull,push");
}

TEST(AuthChallenge, ParsesBasicAndSeveralChallenges) {
  auto chs = parse_www_authenticate(R"(Basic realm="gantry test", Bearer realm="https://t/x",service=reg)");
  ASSERT_EQ(chs.size(), 2u);
  EXPECT_EQ(chs[0].scheme, "basic");
  EXPECT_EQ(chs[0].param("realm"), "gantry test");
  EXPECT_EQ(chs[1].scheme, "bearer");
  EXPECT_EQ(chs[1].param("service"), "reg");
}

TEST(Credentials, Base64RoundTrips) {
  for (std::string s : {"", "a", "ab", "abc", "user:pässword"}) {
    auto back = base64_decode(base64_encode(s));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(base64_encode("user:pass"), "dXNlcjpwYXNz");
}

TEST(Credentials, ReadsDockerAndPodmanFormatsAndWritesLogin) {
  ScratchDir dir;
  std::string docker = dir / "config.json";
  write_file(docker, R"({"auths": {"https://index.docker.io/v1/": {"auth": "aHViOmh1YnB3"},
                                   "127.0.0.1:5000": {"auth": "dXNlcjpwYXNz"}},
                        "credsStore": "none-here"})");
  auto c = find_credentials("127.0.0.1:5000", docker);
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->username, "user");
  EXPECT_EQ((*c)->password, "pass");
  auto hub = find_credentials("docker.io", docker);
  ASSERT_TRUE(hub && hub->has_value());
  EXPECT_EQ((*hub)->username, "hub");

  std::string podman = dir / "auth.json";
  ASSERT_TRUE(store_credentials(podman, "reg.example:443", {"alice", "s3cret:x"}));
  auto a = find_credentials("reg.example:443", podman);
  ASSERT_TRUE(a && a->has_value());
  EXPECT_EQ((*a)->password, "s3cret:x");
  ASSERT_TRUE(store_credentials(docker, "127.0.0.1:5000", {"bob", "pw2"}));
  auto b = find_credentials("127.0.0.1:5000", docker);
  ASSERT_TRUE(b && b->has_value());
  EXPECT_EQ((*b)->username, "bob");
  // Other keys of the file survive a login.
  EXPECT_NE(gantry::testing::read_file_or_die(docker).find("credsStore"), std::string::npos);
  ASSERT_TRUE(remove_credentials(docker, "127.0.0.1:5000"));
  auto gone = find_credentials("127.0.0.1:5000", docker);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
}

TEST(Credentials, MalformedFileIsAnErrorNamingIt) {
  ScratchDir dir;
  write_file(dir / "bad.json", "{not json");
  auto c = find_credentials("h:1", dir / "bad.json");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("bad.json"), std::string::npos);
}

TEST(MediaTypes, SelectsLinuxAmd64FromAnIndex) {
  std::string a(64, 'a'), b(64, 'b');
  std::string index = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:)" + a +
                      R"(","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
      {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:)" + b +
                      R"(","size":1,"platform":{"os":"linux","architecture":"amd64"}}]})";
  auto entries = parse_index(index);
  ASSERT_TRUE(entries) << entries.error().message();
  auto e = select_platform(*entries, Platform{});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->digest.hex(), b);
  auto missing = select_platform(*entries, Platform{"linux", "s390x", ""});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind(), ErrorKind::not_found);
  EXPECT_NE(missing.error().message().find("linux/arm64/v8"), std::string::npos);
}

}  // namespace
}  // namespace gantry::registry
