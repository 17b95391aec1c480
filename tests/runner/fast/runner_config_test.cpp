#include "runner/runner_config.h"

#include <gtest/gtest.h>

namespace gantry::runner {
namespace {

TEST(RunnerConfig, EmptyFileGivesBuiltInDefaults) {
  auto config = parse_runner_config("", "runner.yml");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->limits.pids, RunnerConfig::built_in_limits().pids);
  EXPECT_FALSE(config->policy_for("app").export_dir);
}

TEST(RunnerConfig, ProjectSectionOverridesStarSection) {
  auto config = parse_runner_config(R"(
limits: {memory: 512M, pids: 100}
projects:
  "*": {export_dir: /srv/all, secrets: {A: {env: X}}}
  app:
    push: [localhost:5000/app]
    secrets:
      B: {file: /etc/b, environments: [production]}
)",
                                    "runner.yml");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(*config->limits.memory_bytes, 512ull << 20);
  EXPECT_EQ(*config->limits.pids, 100u);
  auto app = config->policy_for("app");
  EXPECT_EQ(*app.export_dir, "/srv/all");
  ASSERT_EQ(app.push_allow.size(), 1u);
  ASSERT_EQ(app.secrets.size(), 2u);
  EXPECT_EQ(app.secrets.at("B").kind, SecretSource::Kind::file);
  EXPECT_EQ(app.secrets.at("B").environments, std::vector<std::string>{"production"});
  EXPECT_TRUE(config->policy_for("other").push_allow.empty());
}

TEST(RunnerConfig, UnknownKeyNamesFileLineAndKey) {
  auto config = parse_runner_config("projects:\n  app:\n    exports: /x\n", "/etc/gantry/runner.yml");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message().find("/etc/gantry/runner.yml:3:5: projects.app.exports: unknown key"),
            std::string::npos)
      << config.error().message();
}

TEST(RunnerConfig, RelativeExportDirIsRefused) {
  auto config = parse_runner_config("projects: {app: {export_dir: out}}\n", "r.yml");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message().find("must be an absolute path"), std::string::npos);
}

TEST(RunnerConfig, ExplicitMissingFileIsAnError) {
  auto config = load_runner_config("/nonexistent/runner.yml");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message().find("/nonexistent/runner.yml"), std::string::npos);
}

}  // namespace
}  // namespace gantry::runner
