// meta.db's schema rules: a newer schema is refused, every table comes from
// the migration list.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <memory>

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

// A meta.db written before projects (every migration before
// "0104-projects"), holding two repositories' runs that both promoted `app`.
TEST(MetaSchema, ProjectsMigrationMovesRowsIntoTheirRepositorysProject) {
  ScratchDir dir;
  const std::string path = dir / "meta.db";
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
    auto exec = [&](const std::string& sql) {
      char* err = nullptr;
      ASSERT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "") << "\n" << sql;
    };
    exec("CREATE TABLE schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)");
    MigrationList list = schema_migrations();
    for (std::size_t i = 0; i < list.size && std::string(list.items[i].id) != "0104-projects"; ++i) {
      exec(list.items[i].sql);
      exec(std::string("INSERT INTO schema_migrations VALUES ('") + list.items[i].id + "', 0)");
    }
    // r1: a local repository without a remote; r2: one cloned from a URL.
    exec("INSERT INTO runs (id, repo, rev, commit_id, pipeline_file, pipeline_digest, status, waiting_environment,"
         " error, started_ms, finished_ms, repo_url) VALUES"
         " ('r1', '/srv/work/alpha', 'HEAD', 'c1', '.gantry.yml', 'd', 'passed', '', '', 1, 2, ''),"
         " ('r2', '/home/me/checkout', 'HEAD', 'c2', '.gantry.yml', 'd', 'passed', '', '', 3, 4,"
         "  'git@git.example.com:team/beta.git')");
    exec("INSERT INTO promotions (kind, image, environment, digest, replaced_digest, pointer_previous, commit_id,"
         " run_id, time_ms) VALUES ('promote', 'app', 'production', 'sha256:a', '', '', 'c1', 'r1', 1),"
         " ('promote', 'app', 'production', 'sha256:b', '', '', 'c2', 'r2', 2),"
         " ('promote', 'app', 'test', 'sha256:z', '', '', 'c0', 'gone', 0)");
    exec("INSERT INTO environments VALUES ('app', 'production', 'sha256:b', 'c2', 'r2', 2, '', 2)");
    exec("INSERT INTO environments VALUES ('app', 'test', 'sha256:z', 'c0', 'gone', 0, '', 3)");
  }
  auto db = MetaDb::open(path);
  ASSERT_TRUE(db) << db.error().message();
  auto rows = [&](const std::string& sql) {
    std::vector<std::string> out;
    auto st = (*db)->prepare(sql);
    EXPECT_TRUE(st) << sql;
    if (!st) return out;
    while (st->step().value_or(false)) out.push_back(st->column_text(0));
    return out;
  };
  EXPECT_EQ(rows("SELECT id || '=' || project FROM runs ORDER BY id"),
            (std::vector<std::string>{"r1=alpha", "r2=beta"}));
  EXPECT_EQ(rows("SELECT run_id || '=' || project FROM promotions ORDER BY id"),
            (std::vector<std::string>{"r1=alpha", "r2=beta", "gone="}));
  EXPECT_EQ(rows("SELECT environment || '=' || project || ':' || digest FROM environments ORDER BY environment"),
            (std::vector<std::string>{"production=beta:sha256:b", "test=:sha256:z"}));
  // Per project now: alpha can hold its own production pointer for `app`.
  ASSERT_TRUE((*db)->exec("INSERT INTO environments (project, image, environment, digest, commit_id, run_id,"
                          " time_ms, previous_digest, event_id) VALUES ('alpha', 'app', 'production', 'sha256:a',"
                          " 'c1', 'r1', 1, '', 1)"));
  EXPECT_EQ(rows("SELECT count(*) FROM environments WHERE image = 'app' AND environment = 'production'"),
            (std::vector<std::string>{"2"}));
}

}  // namespace
}  // namespace gantry::cache
