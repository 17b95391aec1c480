// `interruptible:` on the pipeline and on a stage (docs/pipeline.md): the
// stage's own value wins over the pipeline's; the default is false; only a
// boolean is accepted, and an included file may not set the pipeline's.
#include <gtest/gtest.h>

#include "pipeline/loader.h"
#include "tests/pipeline/expect_diagnostics.h"

namespace gantry::pipeline {
namespace {

const StageDef& stage(const Pipeline& p, const std::string& name) {
  for (const auto& s : p.stages)
    if (s.name == name) return s;
  throw std::runtime_error("no stage " + name);
}

TEST(Interruptible, PipelineDefault_StageOverrides_UnsetIsFalse) {
  auto p = load_pipeline(R"(interruptible: true
stages:
  unit: {image: busybox, run: 'true'}
  deploy: {image: busybox, run: 'true', environment: staging, interruptible: false}
  lint: {image: busybox, run: 'true', interruptible: yes}
)",
                         ".gantry.yml");
  ASSERT_TRUE(p) << p.error().str();
  EXPECT_TRUE(p->interruptible);
  EXPECT_FALSE(stage(*p, "unit").interruptible.has_value());
  EXPECT_EQ(stage(*p, "deploy").interruptible, false);
  EXPECT_EQ(stage(*p, "lint").interruptible, true);

  auto plain = load_pipeline("stages:\n  unit: {image: busybox, run: 'true'}\n", ".gantry.yml");
  ASSERT_TRUE(plain) << plain.error().str();
  EXPECT_FALSE(plain->interruptible);
}

TEST(Interruptible, NotABoolean_IsAnErrorAtItsPosition) {
  expect_diagnostics("interruptible: sometimes\nstages:\n  unit: {image: busybox, run: 'true', interruptible: 2}\n",
                     {{1, 16, "interruptible: expected true or false, got 'sometimes'"},
                      {3, 54, "stages.unit.interruptible: expected true or false, got '2'"}});
}

}  // namespace
}  // namespace gantry::pipeline
