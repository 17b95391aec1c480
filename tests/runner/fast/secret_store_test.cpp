// gantry's secret store (cache/secret_store.h): owner-only modes from the
// first byte, scoping by project and environment, the HMAC key.
#include "cache/secret_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/support/test_support.h"

namespace gantry::cache {
namespace {

unsigned mode_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

TEST(SecretStore, FilesAreOwnerOnly_ValuesRoundTrip_ScopesReplaceOnlyTheirOwn) {
  testing::ScratchDir dir;
  StorePaths paths(dir.path());
  SecretStore store(paths);
  ::mode_t old = ::umask(0);  // modes must not depend on the umask
  ASSERT_TRUE(store.set({"TOKEN", "", "", std::string("any\0bytes\xff", 10), 0}));
  ASSERT_TRUE(store.set({"TOKEN", "app", "production", "prod-value", 0}));
  ASSERT_TRUE(store.set({"TOKEN", "app", "production", "prod-value-2", 0}));  // replaces
  auto key = store.hmac_key();
  ::umask(old);
  ASSERT_TRUE(key) << key.error().message();
  EXPECT_EQ(key->size(), 32u);
  EXPECT_EQ(mode_of(paths.secrets_dir()), 0700u);
  EXPECT_EQ(mode_of(paths.secret_values()), 0600u);
  EXPECT_EQ(mode_of(paths.secret_hmac_key()), 0600u);
  EXPECT_EQ(*store.hmac_key(), *key);  // made once, then kept

  auto list = store.list();
  ASSERT_TRUE(list) << list.error().message();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].value, std::string("any\0bytes\xff", 10));
  EXPECT_EQ((*list)[1].value, "prod-value-2");

  EXPECT_EQ(pick_secret(*list, "TOKEN", "app", "production")->value, "prod-value-2");
  EXPECT_EQ(pick_secret(*list, "TOKEN", "app", "test")->project, "");  // the global one
  EXPECT_EQ(pick_secret(*list, "TOKEN", "other", "production")->project, "");
  EXPECT_FALSE(pick_secret(*list, "OTHER", "app", "test"));

  ASSERT_TRUE(store.remove("TOKEN", "", ""));
  list = store.list();
  std::vector<std::string> elsewhere;
  EXPECT_FALSE(pick_secret(*list, "TOKEN", "app", "test", &elsewhere));
  EXPECT_EQ(elsewhere, std::vector<std::string>{"production"});
  auto again = store.remove("TOKEN", "", "");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind(), ErrorKind::not_found);
}

TEST(SecretStore, RefusesFilesOthersCouldRead_AndShortKeys) {
  testing::ScratchDir dir;
  StorePaths paths(dir.path());
  SecretStore store(paths);
  ASSERT_TRUE(store.set({"A", "", "", "v", 0}));
  ASSERT_EQ(::chmod(paths.secret_values().c_str(), 0644), 0);
  auto list = store.list();
  ASSERT_FALSE(list);
  EXPECT_NE(list.error().message().find("0644"), std::string::npos) << list.error().message();
  ASSERT_EQ(::chmod(paths.secret_values().c_str(), 0600), 0);
  ASSERT_EQ(::chmod(paths.secrets_dir().c_str(), 0755), 0);
  EXPECT_FALSE(store.list());
  ASSERT_EQ(::chmod(paths.secrets_dir().c_str(), 0700), 0);
  EXPECT_TRUE(store.list());

  EXPECT_FALSE(store.set_hmac_key("short"));
  ASSERT_TRUE(store.set_hmac_key("a-shared-key-of-enough-bytes"));
  EXPECT_EQ(*store.hmac_key(), "a-shared-key-of-enough-bytes");
  EXPECT_EQ(mode_of(paths.secret_hmac_key()), 0600u);
}

}  // namespace
}  // namespace gantry::cache
