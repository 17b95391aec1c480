#include "common/units.h"

#include <gtest/gtest.h>

namespace gantry {

TEST(Units, ParsesDurations) {
  EXPECT_EQ(parse_duration("90s")->count(), 90'000);
  EXPECT_EQ(parse_duration("2m")->count(), 120'000);
  EXPECT_EQ(parse_duration("1h30m")->count(), 5'400'000);
  EXPECT_EQ(parse_duration("500ms")->count(), 500);
  EXPECT_EQ(parse_duration("1.5s")->count(), 1500);
  EXPECT_EQ(parse_duration("10")->count(), 10'000);
  for (const char* bad : {"", "s", "10x", "-1s", "0s", "1m30"}) {
    auto r = parse_duration(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message().find("invalid duration"), std::string::npos);
  }
}

TEST(Units, ParsesByteSizes) {
  EXPECT_EQ(*parse_byte_size("256M"), 256ull << 20);
  EXPECT_EQ(*parse_byte_size("1g"), 1ull << 30);
  EXPECT_EQ(*parse_byte_size("512k"), 512ull << 10);
  EXPECT_EQ(*parse_byte_size("64MiB"), 64ull << 20);
  EXPECT_EQ(*parse_byte_size("4096"), 4096u);
  for (const char* bad : {"", "M", "12Q", "0", "-5M", "1MM"}) EXPECT_FALSE(parse_byte_size(bad)) << bad;
}

TEST(Units, ParsesCpus) {
  EXPECT_DOUBLE_EQ(*parse_cpus("1.5"), 1.5);
  EXPECT_FALSE(parse_cpus("0"));
  EXPECT_FALSE(parse_cpus("two"));
}

}  // namespace gantry

namespace gantry {

TEST(Units, FormatsUtcTimeAsRfc3339) {
  EXPECT_EQ(format_utc_time(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_utc_time(1764111817), "2025-11-25T23:03:37Z");
}

}  // namespace gantry
