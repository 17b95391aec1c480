// `matrix:` on a stage: expansion into named cells with their variables,
// exclude, needs on every cell, and the validation errors.
#include <gtest/gtest.h>

#include "pipeline/loader.h"
#include "tests/pipeline/expect_diagnostics.h"

namespace gantry::pipeline {
namespace {

std::vector<std::string> names_of(const Pipeline& p) {
  std::vector<std::string> out;
  for (const auto& s : p.stages) out.push_back(s.name);
  return out;
}

TEST(Matrix, ExpandsIntoOneStagePerCombination_WithItsVariablesInEnv) {
  auto p = load_pipeline(R"(stages:
  unit:
    image: busybox
    run: make test
    env: {V: 1}
    matrix: {CC: [gcc, clang], OPT: ["-O0", "-O2"]}
  report: {image: busybox, run: echo, needs: unit}
)", ".gantry.yml");
  ASSERT_TRUE(p) << p.error().str();
  EXPECT_EQ(names_of(*p), (std::vector<std::string>{"unit [CC=gcc, OPT=-O0]", "unit [CC=gcc, OPT=-O2]",
                                                    "unit [CC=clang, OPT=-O0]", "unit [CC=clang, OPT=-O2]",
                                                    "report"}));
  const StageDef* cell = p->find_stage("unit [CC=clang, OPT=-O2]");
  ASSERT_NE(cell, nullptr);
  EXPECT_EQ(cell->matrix_of, "unit");
  EXPECT_EQ(cell->env, (EnvList{{"V", "1"}, {"CC", "clang"}, {"OPT", "-O2"}}));
  EXPECT_EQ(cell->matrix, (EnvList{{"CC", "clang"}, {"OPT", "-O2"}}));
  EXPECT_EQ(p->find_stage("report")->needs,
            (std::vector<std::string>{"unit [CC=gcc, OPT=-O0]", "unit [CC=gcc, OPT=-O2]", "unit [CC=clang, OPT=-O0]",
                                      "unit [CC=clang, OPT=-O2]"}));
  EXPECT_EQ(p->find_stage("report")->needs_pos.size(), 4u);
  EXPECT_EQ(p->find_stage("unit"), nullptr);
}

TEST(Matrix, ExcludeRemovesMatchingCombinations_NeedsOfACellKeepTheirs) {
  auto p = load_pipeline(R"(stages:
  build: {image: busybox, run: make}
  unit:
    image: busybox
    run: make test
    needs: build
    matrix:
      CC: [gcc, clang]
      OPT: [-O0, -O2]
      exclude:
        - {CC: clang, OPT: -O0}
)", ".gantry.yml");
  ASSERT_TRUE(p) << p.error().str();
  EXPECT_EQ(names_of(*p), (std::vector<std::string>{"build", "unit [CC=gcc, OPT=-O0]", "unit [CC=gcc, OPT=-O2]",
                                                    "unit [CC=clang, OPT=-O2]"}));
  for (const auto& s : p->stages)
    if (s.name != "build") {
      EXPECT_EQ(s.needs, std::vector<std::string>{"build"}) << s.name;
    }
}

TEST(Matrix, AValueWithASlashStaysOneFileName) {
  EXPECT_EQ(stage_file_name("unit [CC=/usr/bin/gcc, P=50%]"), "unit [CC=%2Fusr%2Fbin%2Fgcc, P=50%25]");
  EXPECT_EQ(stage_file_name("plain-stage"), "plain-stage");
}

TEST(MatrixErrors, AllReportedAtOnceWithTheirPositions) {
  expect_diagnostics(R"(stages:
  a:
    image: busybox
    run: x
    matrix: {CC: gcc, OPT: [], 9X: [a]}
  b:
    image: busybox
    run: x
    matrix: {}
  c:
    image: busybox
    run: x
    matrix:
      A: [a, a, {x: 1}]
      exclude: [{B: a}, {A: z}]
  d:
    image: busybox
    run: x
    env: {A: 1}
    matrix: {A: [a, b]}
  e:
    image: busybox
    run: x
    matrix: {A: [a], exclude: [{A: a}]}
)",
                     {{5, 18, "stages.a.matrix.CC: matrix variable CC: expected a list of values, got a string"},
                      {5, 28, "stages.a.matrix.OPT: matrix variable OPT has no values: the matrix would be empty"},
                      {5, 32,
                       "stages.a.matrix.9X: invalid matrix variable '9X': expected letters, digits and '_', not "
                       "starting with a digit"},
                      {9, 13, "stages.b.matrix: an empty matrix: expected VAR: [values...] entries"},
                      {14, 14, "stages.c.matrix.A[1]: duplicate value 'a' of A"},
                      {14, 17, "stages.c.matrix.A[2]: expected a value (a string or number), got a mapping"},
                      {15, 18, "stages.c.matrix.exclude[0].B: exclude names 'B', which is no variable of the matrix"},
                      {15, 29, "stages.c.matrix.exclude[1].A: exclude: 'z' is not a value of A"},
                      {20, 5, "stages.d.matrix: A is set by both the stage's env and its matrix"},
                      {24, 5, "stages.e.matrix: exclude removes every combination: the matrix is empty"}});
}

TEST(MatrixErrors, MoreThan256CombinationsIsAnError) {
  std::string values = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]";
  expect_diagnostics("stages:\n  big:\n    image: busybox\n    run: x\n    matrix: {A: " + values + ", B: " + values +
                         "}\n",
                     {{5, 13, "stages.big.matrix: the matrix has more than 256 combinations"}});
  // 16 x 16 = 256 is fine.
  std::string sixteen = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]";
  auto p = load_pipeline("stages:\n  big:\n    image: busybox\n    run: x\n    matrix: {A: " + sixteen + ", B: " +
                             sixteen + "}\n",
                         ".gantry.yml");
  ASSERT_TRUE(p) << p.error().str();
  EXPECT_EQ(p->stages.size(), 256u);
}

}  // namespace
}  // namespace gantry::pipeline
