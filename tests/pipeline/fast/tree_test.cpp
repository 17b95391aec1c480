// The pipeline against a commit: load_pipeline_from_git, copy sources checked
// against the tree, and what a copy step puts where.
#include <gtest/gtest.h>

#include "pipeline/copy_plan.h"
#include "pipeline/loader.h"
#include "tests/pipeline/git_fixture.h"

namespace gantry::pipeline {
namespace {

using testing::TestRepo;
using gantry::testing::ScratchDir;

const char* kMonorepoPipeline = R"(images:
  app:
    from: busybox
    steps:
      - copy: src/ /app/src/
      - copy: bin/tool.sh /usr/local/bin/tool
      - copy: src/**/*.h VERSION /app/include/
      - copy: /shared/lib.sh /opt/
      - run: make
)";

struct Monorepo {
  ScratchDir scratch;
  TestRepo repo{scratch};
  std::string c1;
  Monorepo() {
    repo.write("examples/hello/.gantry.yml", kMonorepoPipeline);
    repo.write("examples/hello/src/main.c", "int main;\n");
    repo.write("examples/hello/src/inc/x.h", "#define X\n");
    repo.write("examples/hello/bin/tool.sh", "#!/bin/sh\n", 0755);
    repo.write("examples/hello/VERSION", "1\n");
    repo.write("shared/lib.sh", "lib\n");
    repo.write("README", "top\n");
    c1 = repo.commit("monorepo");
  }
  GitRepo open() { return std::move(*GitRepo::open(repo.path(), scratch / "m")); }
};

TEST(LoadFromGit, ReadsThePipelineOfTheCommitNotTheWorkTree) {
  Monorepo m;
  GitRepo repo = m.open();
  m.repo.write("examples/hello/.gantry.yml", "this: [is not committed\n");
  auto p = load_pipeline_from_git(repo, *repo.resolve(), "examples/hello/.gantry.yml");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->base_dir, "examples/hello");
  EXPECT_EQ(p->images[0].steps[0].tree_sources, std::vector<std::string>{"examples/hello/src"});
  EXPECT_EQ(p->images[0].steps[3].tree_sources, std::vector<std::string>{"shared/lib.sh"});
}

TEST(LoadFromGit, MissingFileIsNotFound) {
  Monorepo m;
  GitRepo repo = m.open();
  auto head = *repo.resolve();
  auto p = load_pipeline_from_git(repo, head);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().kind(), ErrorKind::not_found);
  EXPECT_EQ(p.error().message(), "no .gantry.yml in commit " + head.short_id + " of " + m.repo.path());
}

TEST(LoadFromGit, CopySourcesAbsentFromTheCommitAreReportedWithTheirLines) {
  ScratchDir scratch;
  TestRepo t(scratch);
  t.write(".gantry.yml", R"(images:
  app:
    from: busybox
    steps:
      - copy: src/ /app/
      - copy: missing.txt /app/
      - run: make
      - copy: ["*.rs", /app/]
      - copy: sub/../gone/ /app/
)");
  t.write("src/a.c", "a");
  t.write("missing.txt", "only in the work tree, never committed");
  t.git({"add", ".gantry.yml", "src/a.c"});
  t.git({"commit", "-q", "-m", "partial"});
  auto repo = GitRepo::open(t.path(), scratch / "m");
  ASSERT_TRUE(repo);
  auto head = *repo->resolve();
  auto p = load_pipeline_from_git(*repo, head);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().kind(), ErrorKind::invalid_input);
  EXPECT_EQ(p.error().message(),
            "3 problems in .gantry.yml:\n"
            ".gantry.yml:6:9: images.app.steps[1].copy: copy source 'missing.txt' does not exist in commit " +
                head.short_id +
                "\n"
                ".gantry.yml:8:9: images.app.steps[3].copy: copy source pattern '*.rs' matches nothing in commit " +
                head.short_id +
                "\n"
                ".gantry.yml:9:9: images.app.steps[4].copy: copy source 'sub/../gone/' (gone) does not exist in "
                "commit " +
                head.short_id);
}

TEST(LoadFromGit, SyntaxErrorsComeBeforeTreeChecks) {
  ScratchDir scratch;
  TestRepo t(scratch);
  t.write(".gantry.yml", "images:\n  app: {form: busybox}\n");
  t.commit("bad");
  auto repo = GitRepo::open(t.path(), scratch / "m");
  auto p = load_pipeline_from_git(*repo, *repo->resolve());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message(),
            "2 problems in .gantry.yml:\n"
            ".gantry.yml:2:3: images.app: missing required key 'from'\n"
            ".gantry.yml:2:9: images.app.form: unknown key 'form' (did you mean 'from'?)");
}

std::vector<std::string> dests(const std::vector<CopyItem>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i.dest);
  return out;
}

TEST(CopyPlan, DirectoriesFilesAndGlobsLandWhereTheDocsSay) {
  Monorepo m;
  GitRepo repo = m.open();
  auto head = *repo.resolve();
  auto p = load_pipeline_from_git(repo, head, "examples/hello/.gantry.yml");
  ASSERT_TRUE(p) << p.error().message();
  const auto& steps = p->images[0].steps;

  // A directory: its contents into dest; dest and its parents as directories.
  auto dir = plan_copy(repo, head, steps[0]);
  ASSERT_TRUE(dir) << dir.error().message();
  EXPECT_EQ(dests(*dir), (std::vector<std::string>{"app", "app/src", "app/src/inc", "app/src/inc/x.h", "app/src/main.c"}));
  EXPECT_TRUE((*dir)[0].entry.oid.empty());  // made up parent
  EXPECT_TRUE((*dir)[1].entry.is_dir());
  EXPECT_EQ((*dir)[3].entry.path, "examples/hello/src/inc/x.h");
  EXPECT_EQ(*repo.read_blob((*dir)[4].entry.oid), "int main;\n");
  EXPECT_FALSE((*dir)[2].entry.oid.empty());  // a real tree

  // One file to a destination without '/': that exact path, mode kept.
  auto file = *plan_copy(repo, head, steps[1]);
  EXPECT_EQ(dests(file), (std::vector<std::string>{"usr", "usr/local", "usr/local/bin", "usr/local/bin/tool"}));
  EXPECT_EQ(file.back().entry.mode, kModeExecutable);

  // A glob keeps paths below its fixed prefix; several sources → a directory.
  auto glob = *plan_copy(repo, head, steps[2]);
  EXPECT_EQ(dests(glob), (std::vector<std::string>{"app", "app/include", "app/include/VERSION", "app/include/inc",
                                                   "app/include/inc/x.h"}));

  // A source from the repository root ('/'), into a directory dest.
  auto shared = *plan_copy(repo, head, steps[3]);
  EXPECT_EQ(dests(shared), (std::vector<std::string>{"opt", "opt/lib.sh"}));
  EXPECT_EQ(shared.back().entry.path, "shared/lib.sh");
}

TEST(CopyPlan, KeysFollowTheCommitNotTheWorkTree) {
  Monorepo m;
  GitRepo repo = m.open();
  auto p = *load_pipeline_from_git(repo, *repo.resolve(), "examples/hello/.gantry.yml");
  auto before = *plan_copy(repo, *repo.resolve(), p.images[0].steps[0]);
  m.repo.write("examples/hello/src/main.c", "int main(void) { return 0; }\n");
  auto dirty = *plan_copy(repo, *repo.resolve(), p.images[0].steps[0]);
  EXPECT_EQ(before.back().entry.oid, dirty.back().entry.oid);
  m.repo.commit("change main.c");
  auto after = *plan_copy(repo, *repo.resolve(), p.images[0].steps[0]);
  EXPECT_NE(before.back().entry.oid, after.back().entry.oid);
  EXPECT_EQ(before[3].entry.oid, after[3].entry.oid);  // x.h unchanged
}

TEST(CopyPlan, AbsentSourceIsNotFound) {
  Monorepo m;
  GitRepo repo = m.open();
  Step step;
  step.kind = StepKind::copy;
  step.sources = {"nope/"};
  step.tree_sources = {"nope"};
  step.dest = "/x/";
  auto head = *repo.resolve();
  auto r = plan_copy(repo, head, step);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::not_found);
  EXPECT_EQ(r.error().message(), "copy source 'nope/' not found in commit " + head.short_id);
}

}  // namespace
}  // namespace gantry::pipeline
