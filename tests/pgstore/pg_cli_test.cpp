// `gantry --db postgresql://...` (and GANTRY_DB) against a real PostgreSQL the
// test starts: the record goes to the database, the store stays local; bad
// input (unreachable server, wrong password, newer schema, not a URL) is a
// clear error naming the URL with its password masked, exit 1 (2 for usage),
// and nothing written anywhere. Neither root nor a container is needed.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/pg_server.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

class PgCliTest : public ::testing::Test {
 protected:
  CommandResult gantry(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv = {gantry_binary(), "--store", dir_ / "store"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, env);
  }
  bool meta_db_exists() {
    struct stat st;
    return ::stat((dir_ / "store/meta.db").c_str(), &st) == 0;
  }
  ScratchDir dir_;
};

TEST_F(PgCliTest, History_WithDb_ReadsTheDatabase_FlagAndEnvironmentAlike) {
  auto& server = shared_pg_server();
  GANTRY_REQUIRE_POSTGRES(server);
  const std::string url = server.create_database("cli_history_" + std::to_string(::getpid()));
  auto by_flag = gantry({"--db", url, "history", "--json"});
  ASSERT_EQ(by_flag.exit_code, 0) << by_flag.err;
  auto by_env = gantry({"history", "--json"}, {"GANTRY_DB=" + url});
  ASSERT_EQ(by_env.exit_code, 0) << by_env.err;
  EXPECT_EQ(by_flag.out, by_env.out);
  // The schema is in the database (gantry migrated it on first use).
  auto tables = server.psql("cli_history_" + std::to_string(::getpid()), "SELECT count(*) FROM gantry_schema");
  EXPECT_NE(tables.out, "0\n") << tables.err;
}

TEST_F(PgCliTest, UnreachableDatabase_ExitsOne_NamingTheMaskedUrl) {
  ScratchDir nothing_listens;
  const std::string url = "postgresql://gantry:hunter2@/ci?host=" + nothing_listens.path();
  auto r = gantry({"--db", url, "history"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("--db: connecting to PostgreSQL at postgresql://gantry:***@/ci?host="), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("hunter2"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("hunter2"), std::string::npos) << r.out;
}

TEST_F(PgCliTest, WrongPassword_ExitsOne_PasswordMasked) {
  auto& server = shared_pg_server();
  GANTRY_REQUIRE_POSTGRES(server);
  auto r = gantry({"--db", server.url_with_password("postgres", "guessed-wrong"), "history"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("password authentication failed for user \"gantry\""), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("guessed-wrong"), std::string::npos) << r.err;
}

TEST_F(PgCliTest, SchemaFromANewerGantry_ExitsOne_AndChangesNothing) {
  auto& server = shared_pg_server();
  GANTRY_REQUIRE_POSTGRES(server);
  const std::string db = "cli_newer_" + std::to_string(::getpid());
  const std::string url = server.create_database(db);
  ASSERT_EQ(gantry({"--db", url, "history"}).exit_code, 0);
  ASSERT_EQ(server.psql(db, "INSERT INTO gantry_schema VALUES ('9900-next-gantry', 1)").exit_code, 0);
  const std::string before = server.psql(db, "SELECT id FROM gantry_schema ORDER BY id").out;
  auto r = gantry({"--db", url, "env", "ls", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("has a newer schema than this gantry knows (unknown migration 9900-next-gantry"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(server.psql(db, "SELECT id FROM gantry_schema ORDER BY id").out, before);
}

TEST_F(PgCliTest, NotAPostgresUrl_ExitsOne_BeforeTouchingAnything) {
  auto r = gantry({"--db", "sqlite:///tmp/x.db", "history"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("expected postgresql://"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gantry::testing
