#include "common/digest.h"

#include <gtest/gtest.h>

namespace gantry {

TEST(Digest, ParsesAndPrintsCanonicalForm) {
  auto d = Digest::parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->str(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(*d, Digest::of(""));
}

TEST(Digest, RejectsMalformedStrings) {
  for (const char* bad : {"", "sha256:", "sha256:abc", "md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                          "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                          "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85z",
                          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}) {
    auto d = Digest::parse(bad);
    ASSERT_FALSE(d) << bad;
    EXPECT_EQ(d.error().kind(), ErrorKind::invalid_input);
    EXPECT_NE(d.error().message().find("malformed"), std::string::npos);
  }
}

TEST(Sha256, StreamingEqualsOneShot) {
  Sha256 h;
  h.update("hello ");
  h.update("world");
  EXPECT_EQ(h.finish().hex(), "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
  EXPECT_EQ(Digest::of("hello world").hex(), "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
}

}  // namespace gantry
