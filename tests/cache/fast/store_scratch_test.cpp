// Store::open with StoreScratch::none (the `gantry exec` fast path): no
// session under tmp/ until something needs scratch space, then a normal one.
#include <dirent.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "cache/store.h"
#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

using gantry::testing::ScratchDir;

std::vector<std::string> tmp_entries(const std::string& store_dir) {
  std::vector<std::string> names;
  std::string tmp = store_dir + "/tmp";
  if (DIR* d = ::opendir(tmp.c_str())) {
    while (dirent* e = ::readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") names.emplace_back(e->d_name);
    ::closedir(d);
  }
  return names;
}

TEST(StoreScratch, NoneCreatesNoSessionUntilATempDirIsNeeded) {
  ScratchDir dir;
  std::string s = dir / "s";
  {
    auto store = Store::open(s, StoreLock::shared, StoreScratch::none);
    ASSERT_TRUE(store) << store.error().message();
    EXPECT_TRUE((*store)->tmp_dir().empty());
    EXPECT_TRUE(tmp_entries(s).empty());
    // Blobs can still be written (their temp files stay in the store's filesystem).
    auto d = (*store)->blobs().put("hello");
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(*(*store)->blobs().read(*d), "hello");

    auto work = (*store)->make_temp_dir();
    ASSERT_TRUE(work) << work.error().message();
    const std::string& session = (*store)->tmp_dir();
    ASSERT_FALSE(session.empty());
    EXPECT_EQ(work->path().rfind(session + "/", 0), 0u) << work->path();
    struct stat st {};
    EXPECT_EQ(::stat(session.c_str(), &st), 0);
    EXPECT_EQ(tmp_entries(s).size(), 2u);  // the session dir and its lock
  }
  EXPECT_TRUE(tmp_entries(s).empty());  // removed with the Store
}

TEST(StoreScratch, SessionIsTheDefault) {
  ScratchDir dir;
  auto store = Store::open(dir / "s");
  ASSERT_TRUE(store) << store.error().message();
  EXPECT_FALSE((*store)->tmp_dir().empty());
}

}  // namespace
}  // namespace gantry::cache
