// Two hosts, one record (issue 17): two stores (each its own blobs, layers
// and logs) sharing one PostgreSQL through --db / GANTRY_DB. A run recorded by
// one is seen, and promoted on, from the other; the stores' own meta.db hold
// no runs. Real containers, a real PostgreSQL started by the test.
#include "tests/runner/run_fixture.h"
#include "tests/support/pg_server.h"

namespace gantry::testing {
namespace {

class RunSharedDbTest : public RunFixture {
 protected:
  void pipeline(const std::string& version) {
    commit({{".gantry.yml",
             "images:\n"
             "  app:\n"
             "    from: busybox\n"
             "    steps:\n"
             "      - copy: VERSION /app/VERSION\n"
             "stages:\n"
             "  unit: {image: app, run: cat /app/VERSION}\n"
             "  release: {image: app, environment: production, run: cat /app/VERSION}\n"
             "environments:\n"
             "  - test\n"
             "  - {name: production, when: manual}\n"},
            {"VERSION", version + "\n"}},
           "version " + version);
  }
  nlohmann::json json_in(const std::string& store, const std::vector<std::string>& args, int expected_exit = 0) {
    auto r = run_gantry(store, args);
    EXPECT_EQ(r.exit_code, expected_exit) << r.out << r.err;
    try {
      return nlohmann::json::parse(r.out);
    } catch (const nlohmann::json::exception& e) {
      ADD_FAILURE() << "not JSON: " << e.what() << "\n" << r.out << r.err;
      return nlohmann::json::object();
    }
  }
};

TEST_F(RunSharedDbTest, ARunRecordedFromOneStore_IsSeenAndPromotedFromAnother_TheLocalMetaDbStaysEmpty) {
  GANTRY_REQUIRE_ROOT();
  auto& server = shared_pg_server();
  GANTRY_REQUIRE_POSTGRES(server);
  const std::string url = server.create_database("shared_" + std::to_string(::getpid()));
  const std::string other_store = make_store("host-b");

  pipeline("1.0");
  auto run = run_json({"--local"}, {"GANTRY_DB=" + url});  // here, not on a fleet
  ASSERT_EQ(run.value("status", ""), "waiting") << run.dump(2);
  const std::string id = run.value("id", "");

  // The other host sees the run and its stages in the shared record.
  auto seen = json_in(other_store, {"--db", url, "show", id, "--json"});
  EXPECT_EQ(seen.value("status", ""), "waiting") << seen.dump(2);
  EXPECT_EQ(stage(seen, "unit").value("status", ""), "passed");
  // Neither store's own meta.db recorded it.
  EXPECT_EQ(json_in(store_, {"history", "--json"})["runs"].size(), 0u);
  EXPECT_EQ(json_in(other_store, {"history", "--json"})["runs"].size(), 0u);
  // The other host's history does not take the waiting run for a dead one.
  auto history = json_in(other_store, {"--db", url, "history", "--json"});
  ASSERT_EQ(history["runs"].size(), 1u) << history.dump(2);
  EXPECT_EQ(history["runs"][0].value("status", ""), "waiting");

  // Promoted from the store that holds the image: the record moves in the database.
  auto promoted = json_in(store_, {"--db", url, "promote", "app", "--to", "production", "--json", "--local"});
  EXPECT_EQ(promoted.value("status", ""), "passed") << promoted.dump(2);
  auto envs = json_in(other_store, {"--db", url, "env", "ls", "app", "--json"});
  EXPECT_NE(envs.dump().find("production"), std::string::npos) << envs.dump(2);
  EXPECT_EQ(json_in(other_store, {"--db", url, "show", id, "--json"}).value("status", ""), "passed");
}

}  // namespace
}  // namespace gantry::testing
