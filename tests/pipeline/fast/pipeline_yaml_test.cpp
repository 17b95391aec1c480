// The YAML a user writes, read from a real commit: merge keys (`<<: *x`) with
// their precedence, `.template` top-level keys, and the common mistakes (a tab
// in the indentation, an unquoted `*glob`, an unquoted `!pattern`) explained
// at their own file:line:col.
#include <gtest/gtest.h>

#include "pipeline/git_repo.h"
#include "pipeline/loader.h"
#include "tests/pipeline/git_fixture.h"

namespace gantry::pipeline {
namespace {

using testing::TestRepo;

class PipelineYamlTest : public ::testing::Test {
 protected:
  // Commits `yaml` as ci/.gantry.yml (plus the files copy sources name) and loads it from the commit.
  Result<Pipeline> load(const std::string& yaml) {
    repo_.write("ci/.gantry.yml", yaml);
    repo_.write("ci/src/main.c", "int main(void) { return 0; }\n");
    repo_.commit("pipeline");
    auto git = TRY(GitRepo::open(repo_.path(), scratch_ / "mirrors"));
    auto commit = TRY(git.resolve("HEAD"));
    return load_pipeline_from_git(git, commit, "ci/.gantry.yml");
  }
  std::string error_of(const std::string& yaml) {
    auto p = load(yaml);
    EXPECT_FALSE(p) << "loaded:\n" << yaml;
    return p ? "" : p.error().message();
  }

  gantry::testing::ScratchDir scratch_;
  TestRepo repo_{scratch_};
};

const StageDef& stage_named(const Pipeline& p, const std::string& name) {
  const auto* s = p.find_stage(name);
  EXPECT_NE(s, nullptr) << name;
  static const StageDef none;
  return s ? *s : none;
}

TEST_F(PipelineYamlTest, MergeKeys_FromATopLevelTemplate_OwnKeysWin_FirstMergedWins) {
  auto p = load(R"(.defaults: &defaults
  image: builder
  timeout: 5m
  env: {CC: gcc, MODE: debug}
  retry: 1
.strict: &strict
  allow_failure: false
  timeout: 1m
  retry: 3
images:
  .base: &base
    from: busybox
    env: {LANG: C.UTF-8}
  builder:
    <<: *base
    steps:
      - copy: src /src
  tool:
    <<: *base
    from: builder
stages:
  cmake-minsize:
    <<: [*defaults, *strict]
    run: make MINSIZE=1
    env: {MODE: minsize}
  plain:
    <<: *defaults
    run: make
    timeout: 30s
)");
  ASSERT_TRUE(p) << p.error().message();
  ASSERT_EQ(p->images.size(), 2u);  // .base is a template, not an image
  EXPECT_EQ(p->images[0].name, "builder");
  EXPECT_EQ(p->images[0].from, "busybox");
  ASSERT_EQ(p->images[0].env.size(), 1u);
  EXPECT_EQ(p->images[1].from, "builder");  // written in the mapping: wins over the merged busybox
  ASSERT_EQ(p->stages.size(), 2u);          // .defaults and .strict are neither stages nor images

  const auto& minsize = stage_named(*p, "cmake-minsize");
  EXPECT_EQ(minsize.image, "builder");
  EXPECT_EQ(minsize.timeout, std::chrono::minutes(5));  // *defaults is listed first: it wins over *strict
  EXPECT_EQ(minsize.retry, 1u);
  ASSERT_EQ(minsize.env.size(), 1u);  // a mapping is replaced whole, not merged deeply
  EXPECT_EQ(minsize.env[0].value, "minsize");
  EXPECT_FALSE(minsize.allow_failure);
  const auto& plain = stage_named(*p, "plain");
  EXPECT_EQ(plain.timeout, std::chrono::seconds(30));
  EXPECT_EQ(plain.image, "builder");
  EXPECT_EQ(plain.env.size(), 2u);
}

TEST_F(PipelineYamlTest, MergeKeys_ProblemsInMergedValuesPointAtTheTemplate) {
  auto message = error_of(R"(.defaults: &defaults
  image: busybox
  timeout: soon
stages:
  unit:
    <<: *defaults
    run: make
  bad:
    <<: not-a-mapping
    image: busybox
    run: make
)");
  // The bad value is written on line 3 of the template: that is where it is reported.
  EXPECT_NE(message.find("ci/.gantry.yml:3:12: stages.unit.timeout"), std::string::npos) << message;
  EXPECT_NE(message.find("ci/.gantry.yml:9:9: stages.bad.<<: a merge key (<<) takes a mapping"), std::string::npos)
      << message;
  EXPECT_EQ(message.find("unknown key '<<'"), std::string::npos) << message;
  EXPECT_EQ(message.find("missing required key"), std::string::npos) << message;
}

TEST_F(PipelineYamlTest, ATabInTheIndentation_IsNamedAtItsPosition) {
  auto message = error_of("stages:\n  unit:\n    image: busybox\n\t  run: make\n");
  EXPECT_NE(message.find("ci/.gantry.yml:4:1: tabs are not allowed for indentation"), std::string::npos)
      << message;
}

TEST_F(PipelineYamlTest, AnUnquotedStarGlob_SaysToQuoteIt) {
  auto message = error_of(
      "images:\n  app:\n    from: busybox\n    steps:\n      - copy: [src, /src]\n"
      "stages:\n  unit:\n    image: app\n    inputs: [src/, *.md]\n    run: make\n");
  EXPECT_NE(message.find("ci/.gantry.yml:9:20: a value that starts with * must be quoted: write '*.md'"),
            std::string::npos)
      << message;
}

TEST_F(PipelineYamlTest, AnUnquotedBangPattern_SaysToQuoteIt) {
  auto message = error_of("stages:\n  unit:\n    image: busybox\n    inputs:\n      - src/\n      - !docs/\n"
                          "    run: make\n");
  EXPECT_NE(message.find("ci/.gantry.yml:6:9"), std::string::npos) << message;
  EXPECT_NE(message.find("a value that starts with ! must be quoted"), std::string::npos) << message;
}

}  // namespace
}  // namespace gantry::pipeline
