// meta.db's schema rules: a newer schema is refused, every table comes from
// the migration list.
#include <gtest/gtest.h>

#include "cache/meta_db.h"
#include "cache/store.h"
#include "tests/cache/cache_test_util.h"
#include "tests/support/test_support.h"

namespace gantry::cache {
namespace {

using gantry::testing::ScratchDir;

void add_foreign_migration(const std::string& store_dir) {
  auto store = testing::open_store(store_dir);
  ASSERT_TRUE(store->db().exec("INSERT INTO schema_migrations (id, applied_at) VALUES ('9999-from-the-future', 0)"));
}

TEST(MetaSchema, NewerSchemaIsRefusedWithTheUnknownMigrationNamed) {
  ScratchDir dir;
  add_foreign_migration(dir / "s");
  auto db = MetaDb::open(dir / "s/meta.db");
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().message().find("newer schema"), std::string::npos) << db.error().message();
  EXPECT_NE(db.error().message().find("9999-from-the-future"), std::string::npos) << db.error().message();
}

TEST(MetaSchema, NewerSchemaIsRefusedByEveryCommandWithoutChangingIt) {
  ScratchDir dir;
  add_foreign_migration(dir / "s");
  for (auto args : std::vector<std::vector<std::string>>{{"image", "ls"}, {"history"}, {"gc"}}) {
    auto r = gantry::testing::run_gantry(dir / "s", args);
    EXPECT_EQ(r.exit_code, 1) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("newer schema"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  }
  auto store = MetaDb::open(dir / "s/meta.db");
  EXPECT_FALSE(store) << "still refused: nothing was migrated or dropped";
}

TEST(MetaSchema, RegistryBlobLocationsTableComesFromAMigration) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  auto id = store->db().query_text("SELECT id FROM schema_migrations WHERE id = '0300-registry-blobs'");
  ASSERT_TRUE(id && *id);
  auto table = store->db().query_text("SELECT name FROM sqlite_master WHERE type='table' AND name='registry_blobs'");
  ASSERT_TRUE(table && *table) << "registry_blobs exists before any registry command ran";
}

}  // namespace
}  // namespace gantry::cache
