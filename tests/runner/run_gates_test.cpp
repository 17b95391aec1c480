// Manual gates as a user meets them: promote without --run takes the newest
// run waiting at that gate (and refuses to guess between digests); a digest
// already in an environment passes its gate without waiting, and says so.
#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunGatesTest : public RunFixture {
 protected:
  void version(const std::string& v, const std::map<std::string, std::string>& extra = {}) {
    std::map<std::string, std::string> files = {
        {".gantry.yml",
         "images:\n  app:\n    from: busybox\n    steps:\n      - copy: VERSION /VERSION\n"
         "stages:\n"
         "  unit: {image: app, run: cat /VERSION}\n"
         "  release: {image: app, environment: production, run: cat /VERSION}\n"
         "environments:\n  - test\n  - staging\n  - {name: production, when: manual}\n"},
        {"VERSION", v + "\n"}};
    files.insert(extra.begin(), extra.end());
    commit(files, "version " + v);
  }
  static std::string digest(const nlohmann::json& run) {
    return run["images"].empty() ? "" : run["images"][0].value("digest", "");
  }
  std::string status_of(const std::string& id) { return gantry_json({"show", id, "--json"}).value("status", ""); }
};

TEST_F(RunGatesTest, PromoteWithoutRun_TakesTheNewestWaitingRun_RefusesWhenDigestsDiffer) {
  version("1");
  auto r1 = run_json();
  ASSERT_EQ(r1.value("status", ""), "waiting") << r1.dump(2);
  gantry_json({"promote", "app", "--to", "production", "--json"});  // the only waiting run
  EXPECT_EQ(status_of(r1["id"]), "passed");

  version("2");
  auto older = run_json();
  auto newer = run_json();  // the same commit again: the same digest
  ASSERT_EQ(older.value("status", ""), "waiting");
  ASSERT_EQ(newer.value("status", ""), "waiting");
  ASSERT_EQ(digest(older), digest(newer));
  auto plain = run_gantry(store_, {"promote", "app", "--to", "production"});
  ASSERT_EQ(plain.exit_code, 0) << plain.out << plain.err;
  const std::string said = plain.out + plain.err;
  EXPECT_NE(said.find("promoting run " + newer.value("id", "") + ": the newest run of app waiting"),
            std::string::npos)
      << said;
  EXPECT_EQ(status_of(newer["id"]), "passed");
  EXPECT_EQ(status_of(older["id"]), "waiting");
  EXPECT_EQ(environments("app")["production"], digest(newer));

  version("3");
  auto r3 = run_json();
  ASSERT_EQ(r3.value("status", ""), "waiting");
  ASSERT_NE(digest(r3), digest(older));
  auto refused = run_gantry(store_, {"promote", "app", "--to", "production"});
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("different digests"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find(r3.value("id", "")), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find(older.value("id", "")), std::string::npos) << refused.err;
  EXPECT_EQ(environments("app")["production"], digest(newer));  // nothing moved
  EXPECT_EQ(status_of(r3["id"]), "waiting");
}

TEST_F(RunGatesTest, ADigestAlreadyInProduction_PassesItsGateWithoutWaiting_TheRecordSaysSo) {
  version("1");
  auto first = run_json();
  ASSERT_EQ(first.value("status", ""), "waiting") << first.dump(2);
  auto promoted = gantry_json({"promote", "app", "--to", "production", "--run", first["id"], "--json"});
  ASSERT_EQ(promoted.value("status", ""), "passed") << promoted.dump(2);
  ASSERT_EQ(promoted["gates"].size(), 1u) << promoted.dump(2);
  EXPECT_EQ(promoted["gates"][0].value("how", ""), "promoted");

  // A README commit: the image (and so its digest) is the same.
  version("1", {{"README", "how to build\n"}});
  auto rerun = run_json();
  ASSERT_EQ(digest(rerun), digest(first));
  EXPECT_EQ(rerun.value("status", ""), "passed") << rerun.dump(2);
  EXPECT_EQ(rerun.value("waiting_environment", "x"), "");
  ASSERT_EQ(rerun["gates"].size(), 1u) << rerun.dump(2);
  EXPECT_EQ(rerun["gates"][0].value("environment", ""), "production");
  EXPECT_EQ(rerun["gates"][0].value("how", ""), "already-there");
  EXPECT_NE(rerun["gates"][0].value("detail", "").find(digest(first)), std::string::npos);
  EXPECT_EQ(stage(rerun, "release").value("status", ""), "passed");

  // A new digest still waits.
  version("2");
  auto changed = run_json();
  EXPECT_EQ(changed.value("status", ""), "waiting") << changed.dump(2);
  EXPECT_TRUE(changed["gates"].empty());
}

}  // namespace
}  // namespace gantry::testing
