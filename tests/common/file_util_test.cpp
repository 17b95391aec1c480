#include "common/file_util.h"

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace gantry {

TEST(FileUtil, ListDirGivesSortedNamesWithoutDotEntries) {
  testing::ScratchDir dir;
  testing::write_file(dir / "b", "");
  testing::write_file(dir / "a", "");
  testing::write_file(dir / "sub/c", "");
  auto names = list_dir(dir.path());
  ASSERT_TRUE(names) << names.error().message();
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "sub"}));
  auto missing = list_dir(dir / "absent");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errno_value(), ENOENT);
  EXPECT_NE(missing.error().message().find("absent"), std::string::npos);
}

}  // namespace gantry
