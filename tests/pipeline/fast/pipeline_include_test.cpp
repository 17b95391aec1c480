// `include:` (issue 19): files of the same commit merged into the pipeline by
// name, each problem at the included file's own line and column; clashes name
// both files; cycles, nesting too deep and patterns matching nothing are
// errors; the pipeline's digest follows the included files' blob ids.
#include <gtest/gtest.h>

#include <map>

#include "pipeline/git_repo.h"
#include "pipeline/loader.h"
#include "tests/pipeline/git_fixture.h"

namespace gantry::pipeline {
namespace {

using testing::TestRepo;

class PipelineIncludeTest : public ::testing::Test {
 protected:
  // Commits `files` (path -> text) and loads ci/.gantry.yml from the commit.
  Result<Pipeline> load(const std::map<std::string, std::string>& files) {
    for (const auto& [path, text] : files) repo_.write(path, text);
    repo_.commit("pipeline");
    auto git = TRY(GitRepo::open(repo_.path(), scratch_ / "mirrors"));
    auto commit = TRY(git.resolve("HEAD"));
    return load_pipeline_from_git(git, commit, "ci/.gantry.yml");
  }
  std::string error_of(const std::map<std::string, std::string>& files) {
    auto p = load(files);
    EXPECT_FALSE(p) << "loaded";
    return p ? "" : p.error().message();
  }

  gantry::testing::ScratchDir scratch_;
  TestRepo repo_{scratch_};
};

constexpr const char* kImages = R"(images:
  base:
    from: busybox
    steps:
      - copy: src/main.c /src/main.c
)";
constexpr const char* kUnit = R"(stages:
  unit: {image: app, run: 'true'}
)";
constexpr const char* kDeploy = R"(environments:
  - {name: production, when: manual}
stages:
  smoke: {image: app, run: 'true', needs: [unit], environment: production}
)";

TEST_F(PipelineIncludeTest, FilesAndGlobs_AreMergedByName_InOrder_PathsFromThePipelinesDirectory) {
  auto p = load({{"ci/.gantry.yml", "include: [common/images.yml, 'stages/*.yml']\n"
                                    "environments: [test]\n"
                                    "images:\n  app: {from: base, steps: [{run: 'true'}]}\n"},
                 {"ci/common/images.yml", kImages},
                 {"ci/stages/a-unit.yml", kUnit},
                 {"ci/stages/b-deploy.yml", kDeploy},
                 {"ci/src/main.c", "int main(void) { return 0; }\n"}});
  ASSERT_TRUE(p) << p.error().message();
  ASSERT_EQ(p->images.size(), 2u);
  EXPECT_EQ(p->images[0].name, "app");
  EXPECT_EQ(p->images[0].file, "ci/.gantry.yml");
  EXPECT_EQ(p->images[1].name, "base");
  EXPECT_EQ(p->images[1].file, "ci/common/images.yml");
  // A copy source in an included file is relative to the pipeline file's directory.
  ASSERT_EQ(p->images[1].steps.size(), 1u);
  EXPECT_EQ(p->images[1].steps[0].tree_sources, std::vector<std::string>{"ci/src/main.c"});
  ASSERT_EQ(p->stages.size(), 2u);
  EXPECT_EQ(p->stages[0].file, "ci/stages/a-unit.yml");
  EXPECT_EQ(p->stages[1].file, "ci/stages/b-deploy.yml");
  EXPECT_EQ(p->stages[1].needs, std::vector<std::string>{"unit"});
  // Environments: the pipeline file's first, then each included file's, in order.
  ASSERT_EQ(p->environments.size(), 2u);
  EXPECT_EQ(p->environments[0].name, "test");
  EXPECT_EQ(p->environments[1].name, "production");
  EXPECT_EQ(p->environments[1].when, Gate::manual);
  // Every included file is recorded with its git blob id.
  ASSERT_EQ(p->includes.size(), 3u);
  EXPECT_EQ(p->includes[0].path, "ci/common/images.yml");
  EXPECT_EQ(p->includes[1].path, "ci/stages/a-unit.yml");
  EXPECT_EQ(p->includes[2].path, "ci/stages/b-deploy.yml");
  for (const auto& inc : p->includes) EXPECT_EQ(inc.blob_id.size(), 40u) << inc.path;

  // The digest follows an included file's content even when the pipeline file is unchanged.
  const std::string before = p->digest;
  auto again = load({{"ci/stages/a-unit.yml", "stages:\n  unit: {image: app, run: 'echo changed'}\n"}});
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_NE(again->digest, before);
}

TEST_F(PipelineIncludeTest, AProblemInAnIncludedFile_IsReportedAtItsOwnLineAndColumn) {
  auto msg = error_of({{"ci/.gantry.yml", "include: common.yml\nstages:\n  unit: {image: app, run: 'true'}\n"},
                       {"ci/common.yml", "images:\n  app:\n    from: busybox\n    stpes: []\n"}});
  EXPECT_NE(msg.find("ci/common.yml:4:5: images.app.stpes: unknown key 'stpes' (did you mean 'steps'?)"),
            std::string::npos)
      << msg;
  // A syntax error too.
  msg = error_of({{"ci/common.yml", "images:\n  app: {from: busybox\n"}});
  EXPECT_NE(msg.find("ci/common.yml:"), std::string::npos) << msg;
  // A need that does not exist in any file, written in an included file.
  msg = error_of({{"ci/common.yml", "images:\n  app: {from: busybox}\nstages:\n  late: {image: app, run: x, needs: [nope]}\n"}});
  EXPECT_NE(msg.find("ci/common.yml:4:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown stage 'nope'"), std::string::npos) << msg;
}

TEST_F(PipelineIncludeTest, AClashBetweenFiles_NamesBothFiles) {
  auto msg = error_of({{"ci/.gantry.yml", "include: [a.yml, b.yml]\n"
                                          "images:\n  app: {from: busybox}\n"
                                          "stages:\n  unit: {image: app, run: 'true'}\n"},
                       {"ci/a.yml", "images:\n  app: {from: busybox}\n"},
                       {"ci/b.yml", "stages:\n  unit: {image: app, run: 'false'}\nenvironments: [test, test2]\n"},
                       {"ci/c.yml", ""}});
  EXPECT_NE(msg.find("ci/a.yml:2:3: images.app: image 'app' is also defined in ci/.gantry.yml:3:3"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("ci/b.yml:2:3: stages.unit: stage 'unit' is also defined in ci/.gantry.yml:5:3"),
            std::string::npos)
      << msg;
}

TEST_F(PipelineIncludeTest, CyclesDepthMissingFilesAndMisplacedKeys_AreErrorsAtTheIncludeEntry) {
  // a -> b -> a
  auto msg = error_of({{"ci/.gantry.yml", "include: a.yml\nstages:\n  unit: {image: busybox, run: 'true'}\n"},
                       {"ci/a.yml", "include: b.yml\n"},
                       {"ci/b.yml", "include: [a.yml]\n"}});
  EXPECT_NE(msg.find("ci/b.yml:1:11: include: include cycle: ci/.gantry.yml -> ci/a.yml -> ci/b.yml -> ci/a.yml"),
            std::string::npos)
      << msg;

  // Deeper than kMaxIncludeDepth.
  std::map<std::string, std::string> chain = {
      {"ci/.gantry.yml", "include: d1.yml\nstages:\n  unit: {image: busybox, run: 'true'}\n"}};
  for (int i = 1; i <= kMaxIncludeDepth; ++i)
    chain["ci/d" + std::to_string(i) + ".yml"] = "include: d" + std::to_string(i + 1) + ".yml\n";
  chain["ci/d" + std::to_string(kMaxIncludeDepth + 1) + ".yml"] = "images: {}\n";
  msg = error_of(chain);
  EXPECT_NE(msg.find("includes nest deeper than " + std::to_string(kMaxIncludeDepth) + " levels"), std::string::npos)
      << msg;

  msg = error_of({{"ci/.gantry.yml", "include: [nothing/*.yml, ../../outside.yml]\n"
                                     "stages:\n  unit: {image: busybox, run: 'true'}\n"}});
  EXPECT_NE(msg.find("ci/.gantry.yml:1:11: include: 'nothing/*.yml' (ci/nothing/*.yml) matches no file"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("'../../outside.yml' leaves the repository"), std::string::npos) << msg;

  msg = error_of({{"ci/.gantry.yml", "include: a.yml\nstages:\n  unit: {image: busybox, run: 'true'}\n"},
                  {"ci/a.yml", "project: other\nepoch: 5\n"}});
  EXPECT_NE(msg.find("ci/a.yml:1:1: project: 'project' belongs in the pipeline file (ci/.gantry.yml)"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("ci/a.yml:2:1: epoch: 'epoch' belongs"), std::string::npos) << msg;
}

TEST_F(PipelineIncludeTest, WithoutATree_IncludeIsAnError) {
  auto r = load_pipeline("include: a.yml\nstages:\n  unit: {image: busybox, run: 'true'}\n", ".gantry.yml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().str().find(".gantry.yml:1:10: include: 'a.yml': this pipeline text has no commit tree"),
            std::string::npos)
      << r.error().str();
}

}  // namespace
}  // namespace gantry::pipeline
