// PgMetadata beyond the metadata contract (tests/cache/metadata_test.cpp runs
// that against PostgreSQL too): bad input (an unreachable server, a wrong
// password, a schema from a newer gantry, not a postgresql:// URL), a dropped
// connection and a restarted server, hostile text in parameters. Against a
// real PostgreSQL the test starts (tests/support/pg_server.h).
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pgstore/pg_metadata.h"
#include "pgstore/pg_schema.h"
#include "tests/support/pg_server.h"
#include "tests/support/test_support.h"

namespace gantry::pgstore {
namespace {

using gantry::testing::PgServer;
using gantry::testing::ScratchDir;
using gantry::testing::shared_pg_server;

struct Database {
  std::string name;
  std::string url;
};

Database fresh_database(PgServer& server, const std::string& what) {
  static int n = 0;
  const std::string name = what + "_" + std::to_string(::getpid()) + "_" + std::to_string(++n);
  return {name, server.create_database(name)};
}

cache::RunRecord make_run(const std::string& id) {
  cache::RunRecord run;
  run.id = id;
  run.repo = "/srv/p";
  run.project = "p";
  run.rev = "HEAD";
  run.commit = std::string(40, 'c');
  run.pipeline_file = ".gantry.yml";
  run.pipeline_digest = "sha256:" + std::string(64, 'f');
  run.status = cache::RunStatus::running;
  run.started_ms = 1000;
  return run;
}

TEST(PgUrl, MaskUrl_HidesThePasswordInTheUserInfoAndInParameters) {
  EXPECT_EQ(mask_url("postgresql://gantry:s3cret@db.example:5432/ci"), "postgresql://gantry:***@db.example:5432/ci");
  EXPECT_EQ(mask_url("postgresql://gantry@db/ci"), "postgresql://gantry@db/ci");
  EXPECT_EQ(mask_url("postgresql:///ci?host=/run/pg&password=s3cret&sslmode=disable"),
            "postgresql:///ci?host=/run/pg&password=***&sslmode=disable");
  EXPECT_EQ(mask_url("postgres://u:p%40ss@h/d"), "postgres://u:***@h/d");
}

TEST(PgUrl, NotAPostgresUrl_IsInvalidInputBeforeAnyConnection) {
  auto meta = PgMetadata::connect("mysql://root:pw@localhost/ci");
  ASSERT_FALSE(meta);
  EXPECT_EQ(meta.error().kind(), ErrorKind::invalid_input);
  EXPECT_NE(meta.error().message().find("expected postgresql://"), std::string::npos) << meta.error().message();
  EXPECT_EQ(meta.error().message().find("pw"), std::string::npos) << meta.error().message();
}

TEST(PgConnect, UnreachableServer_NamesTheUrlAndTheCause_PasswordMasked) {
  ScratchDir nothing_listens;
  const std::string url = "postgresql://gantry:topsecret@/ci?host=" + nothing_listens.path();
  auto meta = PgMetadata::connect(url);
  ASSERT_FALSE(meta);
  EXPECT_EQ(meta.error().kind(), ErrorKind::io);
  const std::string& m = meta.error().message();
  EXPECT_NE(m.find("connecting to PostgreSQL at postgresql://gantry:***@/ci?host=" + nothing_listens.path()),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("No such file or directory"), std::string::npos) << m;
  EXPECT_EQ(m.find("topsecret"), std::string::npos) << m;

  auto tcp = PgMetadata::connect("postgresql://gantry:topsecret@127.0.0.1:1/ci?connect_timeout=5");
  ASSERT_FALSE(tcp);
  EXPECT_NE(tcp.error().message().find("Connection refused"), std::string::npos) << tcp.error().message();
  EXPECT_EQ(tcp.error().message().find("topsecret"), std::string::npos) << tcp.error().message();
}

TEST(PgConnect, WrongPassword_IsAClearError_PasswordMasked) {
  auto& server = shared_pg_server();
  GANTRY_REQUIRE_POSTGRES(server);
  auto meta = PgMetadata::connect(server.url_with_password("postgres", "not-the-password"));
  ASSERT_FALSE(meta);
  EXPECT_EQ(meta.error().kind(), ErrorKind::io);
  const std::string& m = meta.error().message();
  EXPECT_NE(m.find("password authentication failed for user \"gantry\""), std::string::npos) << m;
  EXPECT_NE(m.find("postgresql://gantry:***@/postgres"), std::string::npos) << m;
  EXPECT_EQ(m.find("not-the-password"), std::string::npos) << m;
}

TEST(PgSchema, ASchemaFromANewerGantry_IsRefused_AndChangesNothing) {
  auto& server = shared_pg_server();
  GANTRY_REQUIRE_POSTGRES(server);
  const auto [db, url] = fresh_database(server, "newer");
  ASSERT_TRUE(PgMetadata::connect(url));  // migrated by this gantry
  auto added = server.psql(db, "INSERT INTO gantry_schema (id, applied_ms) VALUES ('9000-from-the-future', 1)");
  ASSERT_EQ(added.exit_code, 0) << added.err;
  const std::string before = server.psql(db, "SELECT count(*) FROM gantry_schema").out;

  auto meta = PgMetadata::connect(url);
  ASSERT_FALSE(meta);
  EXPECT_EQ(meta.error().kind(), ErrorKind::conflict);
  const std::string& m = meta.error().message();
  EXPECT_NE(m.find("has a newer schema than this gantry knows (unknown migration 9000-from-the-future"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("use the newer gantry"), std::string::npos) << m;
  EXPECT_EQ(m.find(server.password()), std::string::npos) << m;
  EXPECT_EQ(server.psql(db, "SELECT count(*) FROM gantry_schema").out, before);
}

TEST(PgSchema, ManyProcessesOpeningAFreshDatabaseAtOnce_MigrateItOnce) {
  auto& server = shared_pg_server();
  GANTRY_REQUIRE_POSTGRES(server);
  const auto [db, url] = fresh_database(server, "race");
  std::vector<pid_t> pids;
  for (int i = 0; i < 6; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(PgMetadata::connect(url) ? 0 : 1);
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(server.psql(db, "SELECT count(*) FROM gantry_schema").out,
            std::to_string(known_migrations().size()) + "\n");
}

TEST(PgConnection, ADroppedConnection_IsReconnectedOnce_AndTheCallSucceeds) {
  auto& server = shared_pg_server();
  GANTRY_REQUIRE_POSTGRES(server);
  const std::string url = fresh_database(server, "dropped").url;
  auto meta = PgMetadata::connect(url);
  ASSERT_TRUE(meta) << meta.error().message();
  ASSERT_TRUE((*meta)->create_run(make_run("r1")));
  // The server ends this connection's backend (as an administrator or a
  // failover would); the next call reconnects and goes through.
  const int pid = (*meta)->connection().backend_pid();
  auto killed = server.psql("postgres", "SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  ASSERT_EQ(killed.out, "t\n") << killed.err;
  auto found = (*meta)->find_run("r1");
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_EQ(found->status, cache::RunStatus::running);
  EXPECT_NE((*meta)->connection().backend_pid(), pid);
  // A transaction too: a promotion after another drop is recorded once.
  killed = server.psql("postgres", "SELECT pg_terminate_backend(" +
                                       std::to_string((*meta)->connection().backend_pid()) + ")");
  ASSERT_EQ(killed.out, "t\n") << killed.err;
  auto moved = (*meta)->promote({.project = "p", .image = "app", .environment = "prod",
                                 .digest = "sha256:" + std::string(64, '1'), .run_id = "r1"});
  ASSERT_TRUE(moved) << moved.error().message();
  EXPECT_EQ((*meta)->promotion_history({.project = "p"})->size(), 1u);
}

TEST(PgConnection, TheServerRestarted_TheNextCallReconnects_AServerThatStaysDownIsAClearError) {
  // Its own server: stopping the shared one would pull it from under other tests.
  PgServer server;
  GANTRY_REQUIRE_POSTGRES(server);
  const std::string url = server.create_database("restarted");
  auto meta = PgMetadata::connect(url);
  ASSERT_TRUE(meta) << meta.error().message();
  ASSERT_TRUE((*meta)->create_run(make_run("r1")));
  server.stop();  // immediate: as a crash would
  auto down = (*meta)->set_run_status("r1", cache::RunStatus::passed, "", "", true);
  ASSERT_FALSE(down);
  EXPECT_NE(down.error().message().find("reconnecting after the connection dropped: connecting to PostgreSQL at "
                                        "postgresql://gantry:***@/restarted"),
            std::string::npos)
      << down.error().message();
  server.start();
  ASSERT_TRUE(server.running()) << server.error();
  auto up = (*meta)->set_run_status("r1", cache::RunStatus::passed, "", "", true);
  ASSERT_TRUE(up) << up.error().message();
  EXPECT_EQ((*meta)->find_run("r1")->status, cache::RunStatus::passed);
}

TEST(PgQueries, HostileTextIsData_NeverSql) {
  auto& server = shared_pg_server();
  GANTRY_REQUIRE_POSTGRES(server);
  auto meta = PgMetadata::connect(fresh_database(server, "hostile").url);
  ASSERT_TRUE(meta) << meta.error().message();
  const std::string id = "x'); DROP TABLE runs; --";
  auto run = make_run(id);
  run.error = "$1 \\ \" ' \n";
  run.project = "p'--";
  ASSERT_TRUE((*meta)->create_run(run));
  auto found = (*meta)->find_run(id);
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_EQ(found->error, run.error);
  EXPECT_EQ(found->project, "p'--");
  EXPECT_EQ((*meta)->list_runs({})->size(), 1u);
  // A reused id is a conflict, and the first run stays as it was.
  auto again = (*meta)->create_run(run);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind(), ErrorKind::conflict);
}

}  // namespace
}  // namespace gantry::pgstore
