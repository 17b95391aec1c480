// The one grammar of image references (common/image_ref.h), and the three
// places that read references agreeing on it: the store's names
// (cache::Reference), registry references (registry::RegistryRef) and the
// pipeline's `from:` / `push:` checks.
#include <gtest/gtest.h>

#include "common/image_ref.h"

namespace gantry {
namespace {

TEST(ImageRef, SplitsHostPathTagAndDigest) {
  const std::string d = Digest::of("x").str();
  auto r = parse_image_ref("127.0.0.1:5000/team/base:1.2@" + d);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->host, "127.0.0.1:5000");
  EXPECT_EQ(r->path, "team/base");
  EXPECT_EQ(r->tag, "1.2");
  EXPECT_EQ(r->digest->str(), d);

  r = parse_image_ref("busybox");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "");
  EXPECT_EQ(r->path, "busybox");
  EXPECT_EQ(r->tag, "");  // what no tag means is the caller's business
  EXPECT_FALSE(r->digest);

  for (const char* host : {"localhost/app", "registry.example.com/x/y", "[::1]:5000/app", "localhost:5000/app"}) {
    r = parse_image_ref(host);
    ASSERT_TRUE(r) << host << ": " << r.error().message();
    EXPECT_FALSE(r->host.empty()) << host;
  }
  r = parse_image_ref("team/app:v1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "") << "a first component without '.', ':' or localhost is a path";
  EXPECT_EQ(r->path, "team/app");
  r = parse_image_ref("a__b/c-d/e.f/g--h_i");
  ASSERT_TRUE(r) << r.error().message();
}

TEST(ImageRef, RejectsWhatTheGrammarDoesNotAllow_WithTheReason) {
  struct Case {
    const char* text;
    const char* why;
  };
  for (const Case& c : {Case{"", "empty"}, Case{"UPPER", "bad component 'UPPER'"}, Case{"a//b", "empty path component"},
                        Case{"/abs", "empty path component"}, Case{"name:", "tag ''"}, Case{"name:-tag", "tag '-tag'"},
                        Case{"app@sha256:zz", "sha256"}, Case{"a b", "bad component 'a b'"},
                        Case{"trailing/", "empty path component"}, Case{"-lead", "bad component"},
                        Case{"a..b", "bad component"}, Case{"bad_host.-x/app", "bad registry host"},
                        Case{"localhost:99999999/app", "bad registry host"}, Case{"localhost/", "no repository name"}}) {
    auto r = parse_image_ref(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_input) << c.text;
    EXPECT_NE(r.error().message().find(c.why), std::string::npos) << c.text << ": " << r.error().message();
    EXPECT_NE(r.error().message().find("invalid image reference"), std::string::npos) << r.error().message();
  }
  EXPECT_FALSE(parse_image_ref(std::string(256, 'a')));
  EXPECT_TRUE(parse_image_ref(std::string(255, 'a')));
  EXPECT_TRUE(is_valid_image_tag(std::string(128, 't')));
  EXPECT_FALSE(is_valid_image_tag(std::string(129, 't')));
  EXPECT_FALSE(is_valid_image_tag(".hidden"));
}

// The grammar's edges, one by one (the matchers are hand-written, not regexes).
TEST(ImageRef, SeparatorsTagsAndHosts_AtTheGrammarsEdges) {
  for (const char* ok : {"a.b", "a_b", "a__b", "a-b", "a---b", "a0/b1.c2__d3--e4", "x:_tag", "x:T.a-g_9",
                         "reg.example.com:5000/a/b", "[::1]/a", "a-b.example/x", "localhost:1/a"}) {
    EXPECT_TRUE(parse_image_ref(ok)) << ok;
  }
  for (const char* bad : {"a___b", "a-.b", "a._b", "a.", "a_", "a-", ".a", "_a", "x:", "x:.t", "x:-t", "x:t!",
                          "[]/a", "[::1/a", "[::1]:/a", "[::g]/a", "host:/a", "-host.com/a", "host-.com/a",
                          "a..example/x", "host.com:123456/a", "host.com:1a/a"}) {
    EXPECT_FALSE(parse_image_ref(bad)) << bad;
  }
}

}  // namespace
}  // namespace gantry
