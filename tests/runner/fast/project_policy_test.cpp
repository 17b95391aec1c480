// What the runner allows a project (runner/project_policy.h): project names,
// push prefixes on whole components, export targets that stay inside
// export_dir (real directories and symlinks made by the test).
#include <gtest/gtest.h>

#include <filesystem>

#include "runner/project_policy.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

using runner::project_for_repository;
using runner::push_allowed;

TEST(ProjectPolicy, ProjectName_IsTheLastComponentWithoutDotGit) {
  EXPECT_EQ(project_for_repository("/srv/git/app.git"), "app");
  EXPECT_EQ(project_for_repository("/srv/git/app/"), "app");
  EXPECT_EQ(project_for_repository("https://git.example.com/team/app.git"), "app");
  EXPECT_EQ(project_for_repository("git@git.example.com:team/app.git"), "app");
  EXPECT_EQ(project_for_repository("git@git.example.com:app"), "app");
  EXPECT_EQ(project_for_repository("file:///srv/git/tool"), "tool");
  EXPECT_EQ(project_for_repository("."), std::filesystem::current_path().filename().string());
}

TEST(ProjectPolicy, PushPrefix_MatchesWholeComponentsOnly) {
  const std::vector<std::string> allow = {"localhost:5000/team", "registry.example.com/a/b/"};
  EXPECT_TRUE(push_allowed("localhost:5000/team/app:tag", allow));
  EXPECT_TRUE(push_allowed("localhost:5000/team/sub/app@sha256:" + std::string(64, 'a'), allow));
  EXPECT_TRUE(push_allowed("localhost:5000/team:1", allow));
  EXPECT_TRUE(push_allowed("Registry.Example.com/a/b/c:1", allow));  // hosts are case-insensitive
  EXPECT_FALSE(push_allowed("localhost:5000/teamevil/app:tag", allow));
  EXPECT_FALSE(push_allowed("localhost:5001/team/app:tag", allow));
  EXPECT_FALSE(push_allowed("localhost/team/app:tag", allow));
  EXPECT_FALSE(push_allowed("evil.example.com/localhost:5000/team/app", allow));
  EXPECT_FALSE(push_allowed("registry.example.com/a/bc:1", allow));
  EXPECT_FALSE(push_allowed("registry.example.com/a:1", allow));
  EXPECT_FALSE(push_allowed("not a reference", allow));
  EXPECT_FALSE(push_allowed("localhost:5000/team/app:tag", {}));
  // Docker Hub names are normalised before the comparison.
  EXPECT_TRUE(push_allowed("team/app:1", {"docker.io/team"}));
  EXPECT_FALSE(push_allowed("busybox", {"docker.io/team"}));
}

TEST(ProjectPolicy, PushCheck_NamesTheReferenceTheProjectAndTheConfig) {
  runner::RunnerConfig config;
  config.path = "/etc/gantry/runner.yml";
  config.projects["app"].push_allow = {"localhost:5000/app"};
  auto access = runner::project_access(config, "/srv/git/app.git");
  EXPECT_TRUE(runner::check_push_allowed("localhost:5000/app:1", access));
  auto refused = runner::check_push_allowed("localhost:5000/other:1", access);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message(),
            "push to localhost:5000/other:1 refused: project 'app' may push only below localhost:5000/app "
            "(push: in projects.app of the runner config, /etc/gantry/runner.yml)");
}

TEST(ProjectPolicy, ExportTarget_StaysInsideExportDir) {
  ScratchDir dir;
  namespace fs = std::filesystem;
  runner::RunnerConfig config;
  config.projects["*"].export_dir = dir / "exports";
  auto access = runner::project_access(config, "/srv/app");
  auto ok = runner::open_export_target(access, "a/b/app.tar");
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_TRUE(fs::is_directory(dir / "exports/a/b"));
  EXPECT_EQ(ok->name, "app.tar");
  EXPECT_EQ(ok->shown, dir / "exports/a/b/app.tar");
  write_file(ok->fd_path(), "x");
  EXPECT_EQ(read_file_or_die(dir / "exports/a/b/app.tar"), "x");

  fs::create_directories(dir / "outside");
  fs::create_directory_symlink(dir / "outside", dir / "exports/link");
  fs::create_symlink(dir / "outside/file", dir / "exports/leaf");
  fs::create_directories(dir / "exports/layout/blobs");
  fs::create_directory_symlink(dir / "outside", dir / "exports/layout/blobs/sha256");
  for (const char* rel :
       {"link/app.tar", "link/x/app.tar", "leaf", "/abs.tar", "../up.tar", "a/./b.tar", "", "layout"}) {
    auto refused = runner::open_export_target(access, rel);
    EXPECT_FALSE(refused) << rel;
  }
  EXPECT_TRUE(fs::is_empty(dir / "outside"));
  EXPECT_FALSE(fs::exists(dir / "up.tar"));

  runner::RunnerConfig none;
  auto no_dir = runner::open_export_target(runner::project_access(none, "/srv/app"), "app.tar");
  ASSERT_FALSE(no_dir);
  EXPECT_NE(no_dir.error().message().find("sets no export_dir for project 'app'"), std::string::npos);
}

}  // namespace
}  // namespace gantry::testing
