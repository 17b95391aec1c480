// examples/service-db end to end: a PostgreSQL server (Debian's
// postgresql-15 on a base made with mmdebstrap) as a service of the stage,
// ready by its exec probe (pg_isready); psql in the stage creates a table on
// `db` and reads it back.
//
// SLOW and needs the network or the machine's apt mirror: mmdebstrap makes
// the base (about 2 minutes). Runs only with GANTRY_SLOW_TESTS=1 (ci/test
// sets it); skipped otherwise, saying so.
#include <cstdlib>

#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class ExampleServiceDbTest : public RunFixture {};

TEST_F(ExampleServiceDbTest, PsqlFromTheStage_CreatesATableOnTheDbServiceAndReadsItBack) {
  const char* slow = std::getenv("GANTRY_SLOW_TESTS");
  if (slow == nullptr || std::string(slow) != "1")
    GTEST_SKIP() << "slow (mmdebstrap of a PostgreSQL base, minutes): set GANTRY_SLOW_TESTS=1";
  auto base = run_command({source_dir() + "/examples/debian-c/make-base-image", "--name", "debian-pg:bookworm",
                           "--packages", "postgresql-15,postgresql-client-15", gantry_binary(), "--store", store_});
  ASSERT_EQ(base.exit_code, 0) << base.out << base.err;
  const std::string example = source_dir() + "/examples/service-db";
  commit({{".gantry.yml", read_file_or_die(example + "/.gantry.yml")},
          {"tests/run.sh", read_file_or_die(example + "/tests/run.sh")}});
  auto run = run_json();
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  auto logs = run_gantry(store_, {"logs", run["id"], "integration"});
  EXPECT_NE(logs.out.find("service-db: table created on db and read back (sum 6)"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("service db ready (exec probe"), std::string::npos) << logs.out;
  auto server = run_gantry(store_, {"logs", run["id"], "integration", "--service", "db"});
  EXPECT_NE(server.out.find("database system is ready to accept connections"), std::string::npos) << server.out;
}

}  // namespace
}  // namespace gantry::testing
