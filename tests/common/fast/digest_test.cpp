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

// Digest::of (nettle) and Sha256 (OpenSSL) are two implementations of one
// function: equal on the empty input, across SHA-256's 55/56/64-byte padding
// edges, and on a few megabytes.
TEST(Sha256, OneShotAndStreaming_AgreeAcrossBlockEdgesAndLargeInputs) {
  for (std::size_t size : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 119u, 120u, 4096u, 3u * 1024 * 1024 + 7})
  {
    std::string data(size, '\0');
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 131 + size) & 0xff);
    Sha256 h;
    h.update(data.substr(0, size / 3));
    h.update(data.substr(size / 3));
    EXPECT_EQ(Digest::of(data), h.finish()) << size << " bytes";
  }
  EXPECT_EQ(Digest::of("").hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace gantry
