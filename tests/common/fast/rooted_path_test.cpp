// common/rooted_path.h on real directories and symlinks made by the test:
// lookups stay below the root and never follow a link.
#include "common/rooted_path.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

namespace fs = std::filesystem;

class RootedPath : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "root/a/b");
    write_file(dir_ / "root/a/file", "inside");
    write_file(dir_ / "outside/secret", "host");
    fs::create_directory_symlink(dir_ / "outside", dir_ / "root/abs");
    fs::create_directory_symlink("a", dir_ / "root/rel");
    fs::create_symlink("file", dir_ / "root/a/leaf");
    root_ = UniqueFd(::open((dir_ / "root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_);
  }
  int err(const Error& e) { return e.errno_value(); }
  ScratchDir dir_;
  UniqueFd root_;
};

TEST_F(RootedPath, Split_RefusesDotAndDotDot) {
  EXPECT_EQ(*split_beneath_path("/a//b/"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(split_beneath_path("")->empty());
  EXPECT_FALSE(split_beneath_path("a/../b"));
  EXPECT_FALSE(split_beneath_path("./a"));
  EXPECT_TRUE(split_beneath_path("a..b/.c"));  // names, not components
}

TEST_F(RootedPath, OpenBeneath_RefusesEverySymlinkAndEscape) {
  EXPECT_TRUE(open_beneath(root_.get(), "a/b", O_PATH | O_DIRECTORY));
  EXPECT_TRUE(open_beneath(root_.get(), "a/file", O_RDONLY));
  EXPECT_EQ(err(open_beneath(root_.get(), "abs/secret", O_RDONLY).error()), ELOOP);
  EXPECT_EQ(err(open_beneath(root_.get(), "rel/file", O_RDONLY).error()), ELOOP);  // even a link inside
  EXPECT_EQ(err(open_beneath(root_.get(), "a/leaf", O_RDONLY).error()), ELOOP);
  EXPECT_EQ(err(open_beneath(root_.get(), "a/missing", O_RDONLY).error()), ENOENT);
  EXPECT_EQ(err(open_beneath(root_.get(), "a/file/x", O_RDONLY).error()), ENOTDIR);
  EXPECT_FALSE(open_beneath(root_.get(), "../outside/secret", O_RDONLY));
  EXPECT_EQ(err(open_beneath(root_.get(), "/etc/passwd", O_RDONLY).error()), ENOENT);  // '/' is the root
  // The link itself, with O_PATH | O_NOFOLLOW.
  auto link = open_beneath(root_.get(), "a/leaf", O_PATH | O_NOFOLLOW);
  ASSERT_TRUE(link) << link.error().message();
  struct stat st {};
  ASSERT_EQ(::fstatat(link->get(), "", &st, AT_EMPTY_PATH), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST_F(RootedPath, OpenDirBeneath_CreatesButNeverThroughALink) {
  auto made = open_dir_beneath(root_.get(), "new/deep/dir", Create::yes, 0750);
  ASSERT_TRUE(made) << made.error().message();
  EXPECT_TRUE(fs::is_directory(dir_ / "root/new/deep/dir"));
  auto through = open_dir_beneath(root_.get(), "abs/planted", Create::yes);
  ASSERT_FALSE(through);
  EXPECT_EQ(err(through.error()), ELOOP);
  EXPECT_NE(through.error().message().find("goes through the symlink 'abs'"), std::string::npos)
      << through.error().message();
  EXPECT_FALSE(fs::exists(dir_ / "outside/planted"));
  EXPECT_EQ(err(open_dir_beneath(root_.get(), "a/file/x", Create::yes).error()), ENOTDIR);
  EXPECT_EQ(err(open_dir_beneath(root_.get(), "a/none", Create::no).error()), ENOENT);
  EXPECT_TRUE(open_dir_beneath(root_.get(), "", Create::no));
}

}  // namespace
}  // namespace gantry::testing
