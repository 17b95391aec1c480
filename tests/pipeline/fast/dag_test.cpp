#include "pipeline/dag.h"

#include <gtest/gtest.h>

#include "pipeline/loader.h"

namespace gantry::pipeline {
namespace {

using Names = std::vector<std::string>;

TEST(Dag, OrdersDependenciesFirstInParallelLevels) {
  std::vector<DagNode> nodes = {{"app", {"base"}}, {"base", {}}, {"tools", {}}, {"test", {"app", "tools"}},
                                {"other", {"unknown-is-ignored"}}};
  auto order = topo_order(nodes, "images");
  ASSERT_TRUE(order) << order.error().message();
  EXPECT_EQ(order->order, (Names{"base", "tools", "other", "app", "test"}));
  ASSERT_EQ(order->levels.size(), 3u);
  EXPECT_EQ(order->levels[0], (Names{"base", "tools", "other"}));
  EXPECT_EQ(order->levels[1], Names{"app"});
  EXPECT_EQ(order->levels[2], Names{"test"});
}

TEST(Dag, NamesTheCycle) {
  std::vector<DagNode> nodes = {{"ok", {}}, {"a", {"ok", "b"}}, {"b", {"c"}}, {"c", {"a"}}};
  auto cycle = find_cycle(nodes);
  ASSERT_TRUE(cycle);
  EXPECT_EQ(*cycle, (Names{"a", "b", "c", "a"}));
  EXPECT_EQ(format_cycle(*cycle), "a → b → c → a");
  auto order = topo_order(nodes, "stages");
  ASSERT_FALSE(order);
  EXPECT_EQ(order.error().kind(), ErrorKind::invalid_input);
  EXPECT_EQ(order.error().message(), "cycle between stages: a → b → c → a");
  EXPECT_EQ(*find_cycle({{"self", {"self"}}}), (Names{"self", "self"}));
  EXPECT_FALSE(find_cycle({{"a", {"b"}}, {"b", {}}}));
}

TEST(Dag, ImageAndStageOrderOfAPipeline) {
  auto p = load_pipeline(R"(images:
  app: {from: base}
  base: {from: busybox}
  lint-tools: {from: base}
stages:
  unit: {image: app, run: a}
  lint: {image: lint-tools, run: a}
  smoke: {image: app, needs: [unit, lint], run: a}
  report: {image: app, needs: [smoke], run: a}
  docs: {image: busybox, run: a}
)",
                         ".gantry.yml");
  ASSERT_TRUE(p) << p.error().str();
  auto images = image_order(*p);
  ASSERT_TRUE(images);
  EXPECT_EQ(images->levels, (std::vector<Names>{{"base"}, {"app", "lint-tools"}}));
  auto stages = stage_order(*p);
  ASSERT_TRUE(stages);
  EXPECT_EQ(stages->levels, (std::vector<Names>{{"unit", "lint", "docs"}, {"smoke"}, {"report"}}));
  EXPECT_EQ(dependants_of(*p, "unit"), (Names{"smoke", "report"}));
  EXPECT_EQ(dependants_of(*p, "docs"), Names{});
}

}  // namespace
}  // namespace gantry::pipeline
