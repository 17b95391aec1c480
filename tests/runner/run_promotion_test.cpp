// Promotion of one digest through test, staging and production: manual gates,
// gantry promote, rollback, env ls, history, and gantry watch.
#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunPromotionTest : public RunFixture {
 protected:
  // An image whose content depends on `version`, stages in test and staging,
  // and a manual production gate when `manual`.
  void pipeline(const std::string& version, bool manual) {
    commit({{".gantry.yml",
             "images:\n"
             "  app:\n"
             "    from: busybox\n"
             "    steps:\n"
             "      - copy: VERSION /app/VERSION\n"
             "stages:\n"
             "  unit: {image: app, run: cat /app/VERSION}\n"
             "  smoke: {image: app, environment: staging, run: 'cat /app/VERSION; echo $GANTRY_ENVIRONMENT'}\n"
             "  release: {image: app, environment: production, run: 'test $GANTRY_ENVIRONMENT = production'}\n"
             "environments:\n"
             "  - test\n"
             "  - staging\n" +
                 std::string(manual ? "  - {name: production, when: manual}\n" : "  - production\n")},
            {"VERSION", version + "\n"}},
           "version " + version);
  }
  std::string image_digest(const nlohmann::json& run) {
    for (const auto& i : run["images"])
      if (i.value("name", "") == "app") return i.value("digest", "");
    ADD_FAILURE() << "no app image in " << run.dump();
    return "";
  }
};

TEST_F(RunPromotionTest, ManualGate_WaitsWithExitZero_PromoteCarriesOn_ProductionHasTheTestedDigest) {
  pipeline("1.0", true);
  auto run = run_json();
  ASSERT_EQ(run.value("status", ""), "waiting") << run.dump(2);
  EXPECT_EQ(run.value("waiting_environment", ""), "production");
  const std::string digest = image_digest(run);
  auto envs = environments("app");
  EXPECT_EQ(envs["test"], digest);
  EXPECT_EQ(envs["staging"], digest);
  EXPECT_EQ(envs.count("production"), 0u);
  EXPECT_EQ(stage(run, "smoke").value("status", ""), "passed");

  auto promoted = gantry_json({"promote", "app", "--to", "production", "--json"});
  EXPECT_EQ(promoted.value("status", ""), "passed") << promoted.dump(2);
  EXPECT_EQ(promoted.value("id", ""), run.value("id", ""));  // the same run, carried on
  EXPECT_EQ(stage(promoted, "release").value("status", ""), "passed");
  envs = environments("app");
  EXPECT_EQ(envs["production"], digest);  // the digest tested, never rebuilt
  EXPECT_EQ(envs["test"], digest);
  auto show = gantry_json({"show", run["id"], "--json"});
  EXPECT_EQ(show["promotions"].size(), 3u);
}

TEST_F(RunPromotionTest, PromoteRefusesADigestThatSkippedAnEnvironment) {
  commit({{".gantry.yml",
           "images:\n  app: {from: busybox, steps: [{run: 'echo 1 > /v'}]}\n"
           "stages:\n  unit: {image: app, run: exit 1}\n"}});
  auto run = run_json({}, {}, 1);
  ASSERT_EQ(run.value("status", ""), "failed");
  auto r = run_gantry(store_, {"promote", "app", "--to", "staging", "--run", run["id"]});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("has not passed test"), std::string::npos) << r.err;
  EXPECT_TRUE(environments("app").empty());
}

TEST_F(RunPromotionTest, Rollback_RestoresThePreviousDigest_AsItsOwnEvent) {
  pipeline("1.0", false);
  auto first = run_json();
  ASSERT_EQ(first.value("status", ""), "passed") << first.dump(2);
  pipeline("2.0", false);
  auto second = run_json();
  ASSERT_EQ(second.value("status", ""), "passed") << second.dump(2);
  ASSERT_NE(image_digest(first), image_digest(second));
  EXPECT_EQ(environments("app")["production"], image_digest(second));

  auto event = gantry_json({"rollback", "app", "--env", "production", "--json"});
  EXPECT_EQ(event.value("kind", ""), "rollback");
  EXPECT_EQ(event.value("digest", ""), image_digest(first));
  EXPECT_EQ(event.value("previous_digest", ""), image_digest(second));
  auto envs = environments("app");
  EXPECT_EQ(envs["production"], image_digest(first));
  EXPECT_EQ(envs["staging"], image_digest(second));  // other environments untouched
  auto history = gantry_json({"history", "app", "--json"});
  ASSERT_FALSE(history["promotions"].empty());
  EXPECT_EQ(history["promotions"][0].value("kind", ""), "rollback");

  // Nothing before the first digest: a second rollback is refused, no change.
  auto again = run_gantry(store_, {"rollback", "app", "--env", "production"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("no previous digest"), std::string::npos) << again.err;
  EXPECT_EQ(environments("app")["production"], image_digest(first));
}

TEST_F(RunPromotionTest, Watch_RunsEachOfThreeNewCommitsExactlyOnce_OldestFirst) {
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: 'cat /workspace/n; test $(cat /workspace/n) != 2'}\n"},
          {"n", "0\n"}});
  const std::string base = git({"rev-parse", "HEAD"});
  std::vector<std::string> commits;
  for (int i = 1; i <= 3; ++i) commits.push_back(commit({{"n", std::to_string(i) + "\n"}}, "n" + std::to_string(i)));
  // Commit 2 fails its stage: watch survives it and carries on.
  auto r = run_gantry(store_, {"watch", repo_, "--branch", "main", "--since", base, "--interval", "100ms",
                               "--max-runs", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto history = gantry_json({"history", "--json"});
  ASSERT_EQ(history["runs"].size(), 3u) << history.dump(2);
  // history is newest first
  EXPECT_EQ(history["runs"][2].value("commit", ""), commits[0]);
  EXPECT_EQ(history["runs"][1].value("commit", ""), commits[1]);
  EXPECT_EQ(history["runs"][0].value("commit", ""), commits[2]);
  EXPECT_EQ(history["runs"][1].value("status", ""), "failed");
  EXPECT_EQ(history["runs"][0].value("status", ""), "passed");
  // A second watch has nothing new to run.
  r = run_gantry(store_, {"watch", repo_, "--branch", "main", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(run_count(), 3u);
}


TEST_F(RunPromotionTest, ExportOnPromotion_WritesAnOciArchiveOfThePromotedDigest) {
  const std::string out = dir_ / "releases";  // the runner's export_dir: created on the first export
  use_runner_config("projects:\n  \"*\": {export_dir: " + out + "}\n");
  commit({{".gantry.yml",
           "images:\n  app: {from: busybox, steps: [{run: 'echo 1 > /v'}]}\n"
           "stages:\n  unit: {image: app, run: cat /v}\n"
           "environments:\n  - test\n  - {name: staging, export: \"staging/{image}.tar\"}\n"}});
  auto run = run_json();
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  const std::string archive = out + "/staging/app.tar";
  auto inspect = run_command({"skopeo", "inspect", "--raw", "oci-archive:" + archive + ":staging"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  auto digest = run_command({"sh", "-c", "skopeo inspect --raw oci-archive:" + archive + ":staging | sha256sum"});
  EXPECT_EQ("sha256:" + digest.out.substr(0, 64), image_digest(run));
}

}  // namespace
}  // namespace gantry::testing
