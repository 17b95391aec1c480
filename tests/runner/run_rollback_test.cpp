// gantry rollback re-does the environment's export (and push) for the digest
// it restores before the pointer moves; when that fails, the pointer stays.
#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunRollbackTest : public RunFixture {
 protected:
  void version(const std::string& v) {
    commit({{".gantry.yml",
             "images:\n  app: {from: busybox, steps: [{copy: VERSION /VERSION}]}\n"
             "stages:\n  unit: {image: app, run: cat /VERSION}\n"
             "environments:\n  - test\n  - {name: production, export: \"prod/{image}.tar\"}\n"},
            {"VERSION", v + "\n"}});
  }
  // The manifest digest in the exported archive.
  std::string exported_digest() {
    auto r = run_command(
        {"sh", "-c", "skopeo inspect --raw oci-archive:" + exports_ + "/prod/app.tar:production | sha256sum"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return "sha256:" + r.out.substr(0, 64);
  }
  static std::string digest(const nlohmann::json& run) { return run["images"][0].value("digest", ""); }

  std::string exports_;
};

TEST_F(RunRollbackTest, Rollback_ReExportsTheRestoredDigest_AndAFailedExportLeavesThePointer) {
  exports_ = dir_ / "exports";
  use_runner_config("projects:\n  \"*\": {export_dir: " + exports_ + "}\n");
  version("1");
  auto first = run_json();
  ASSERT_EQ(first.value("status", ""), "passed") << first.dump(2);
  EXPECT_EQ(exported_digest(), digest(first));
  version("2");
  auto second = run_json();
  ASSERT_EQ(second.value("status", ""), "passed") << second.dump(2);
  ASSERT_NE(digest(first), digest(second));
  EXPECT_EQ(exported_digest(), digest(second));

  // The runner no longer lets this project export: the rollback is refused
  // before the pointer moves, and the archive still holds what production runs.
  use_runner_config("projects: {}\n");
  auto refused = run_gantry(store_, {"--runner-config", dir_ / "runner.yml", "rollback", "app", "--env", "production"});
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("rolling back app in production to " + digest(first)), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("sets no export_dir"), std::string::npos) << refused.err;
  EXPECT_EQ(environments("app")["production"], digest(second));
  EXPECT_EQ(exported_digest(), digest(second));

  use_runner_config("projects:\n  \"*\": {export_dir: " + exports_ + "}\n");
  auto event = gantry_json({"rollback", "app", "--env", "production", "--json"});
  EXPECT_EQ(event.value("digest", ""), digest(first)) << event.dump(2);
  EXPECT_EQ(environments("app")["production"], digest(first));
  EXPECT_EQ(exported_digest(), digest(first));  // the export follows the pointer
}

}  // namespace
}  // namespace gantry::testing
