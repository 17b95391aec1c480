// Stage test results (runner/stage_tests.h): reading reports out of a
// container's layers (upper over lowers, nothing followed), the file's round
// trip, and the flaky rule.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "runner/stage_tests.h"
#include "tests/support/test_support.h"

namespace gantry::runner {
namespace {

void write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

const char* kPassing = R"(<testsuite name="S"><testcase classname="S" name="a"/><testcase classname="S" name="b"/></testsuite>)";
const char* kFailingA =
    R"(<testsuite name="S"><testcase classname="S" name="a"><failure message="boom">trace</failure></testcase>)"
    R"(<testcase classname="S" name="b"/></testsuite>)";

TEST(StageTests, ReadsMatchingReportsOverTheLayers_UpperWins_LinksAndBadXmlAreWarnings) {
  gantry::testing::ScratchDir dir;
  const std::string lower = dir / "lower", upper = dir / "upper";
  ASSERT_EQ(::mkdir(lower.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((lower + "/out").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(upper.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((upper + "/out").c_str(), 0755), 0);
  write(lower + "/out/a.xml", kPassing);    // hidden by the upper's a.xml
  write(upper + "/out/a.xml", kFailingA);
  write(lower + "/out/c.xml", "<testsuite><testcase name=");  // malformed
  write(upper + "/out/notes.txt", "not matched");
  ASSERT_EQ(::symlink("/etc/passwd", (upper + "/out/l.xml").c_str()), 0);

  auto t = read_attempt_tests({"/out/*.xml", "/missing/*.xml"}, 1, upper, {lower});
  EXPECT_EQ(t.files, (std::vector<std::string>{"/out/a.xml", "/out/c.xml"}));
  ASSERT_EQ(t.report.cases.size(), 2u);
  EXPECT_EQ(t.report.count(TestStatus::failed), 1);
  std::string warnings;
  for (const auto& w : t.warnings) warnings += w + "\n";
  EXPECT_NE(warnings.find("/out/c.xml"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("/out/l.xml is not a regular file"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("/missing/*.xml: no such file"), std::string::npos) << warnings;
}

TEST(StageTests, SavedAndLoaded_FlakyOnlyWhenOneTestBothFailedAndPassedForTheKey) {
  gantry::testing::ScratchDir dir;
  StageTests first{.run_id = "r1", .stage = "unit", .key = "sha256:k", .attempts = {}};
  AttemptTests a1;
  a1.attempt = 1;
  a1.report = *parse_junit(kFailingA, "a.xml");
  AttemptTests a2;
  a2.attempt = 2;
  a2.report = *parse_junit(kPassing, "a.xml");
  first.attempts = {a1};
  ASSERT_TRUE(save_stage_tests(dir / "unit.tests.json", first));
  auto loaded = load_stage_tests(dir / "unit.tests.json");
  ASSERT_TRUE(loaded && *loaded) << (loaded ? "" : loaded.error().message());
  EXPECT_EQ((*loaded)->key, "sha256:k");
  ASSERT_EQ((*loaded)->attempts.size(), 1u);
  EXPECT_EQ((*loaded)->attempts[0].report.cases[0].message, "boom");

  EXPECT_TRUE(flaky_tests({&**loaded}).empty()) << "failing every time is not flaky";
  StageTests rerun{.run_id = "r2", .stage = "unit", .key = "sha256:k", .attempts = {a2}};
  EXPECT_EQ(flaky_tests({&**loaded, &rerun}), std::vector<std::string>{"S.a"});
  first.attempts = {a1, a2};  // failed, then passed on the retry
  EXPECT_EQ(flaky_tests({&first}), std::vector<std::string>{"S.a"});

  auto absent = load_stage_tests(dir / "none.tests.json");
  ASSERT_TRUE(absent);
  EXPECT_FALSE(*absent);
  write(dir / "bad.tests.json", "{\"attempts\": 3}");
  EXPECT_FALSE(load_stage_tests(dir / "bad.tests.json"));
}

}  // namespace
}  // namespace gantry::runner
