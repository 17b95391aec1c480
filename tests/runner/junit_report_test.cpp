// JUnit XML reports as two real test frameworks write them (pytest from
// Debian's python3-pytest, and GoogleTest: this very binary), plus hostile
// and malformed reports: never a crash, never an entity expanded or a file read.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "runner/junit_report.h"
#include "tests/support/test_support.h"

namespace gantry::runner {
namespace {

using gantry::testing::run_command;
using gantry::testing::ScratchDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(JunitReport, PytestReport_PassedFailedSkipped_WithMessageAndOutput) {
  if (::access("/usr/bin/python3", X_OK) != 0 ||
      run_command({"/usr/bin/python3", "-c", "import pytest"}).exit_code != 0)
    GTEST_SKIP() << "Debian's python3-pytest is not installed (ci/setup installs it)";
  ScratchDir dir;
  {
    std::ofstream t(dir / "test_sample.py");
    t << "import pytest\n"
         "def test_ok():\n    assert 1 == 1\n"
         "def test_bad():\n    print('some output')\n    assert 1 == 2, 'one is not two'\n"
         "@pytest.mark.skip(reason='later')\ndef test_later():\n    pass\n";
  }
  auto r = run_command({"/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=" + (dir / "out.xml"),
                        dir / "test_sample.py"});
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;  // one test failed
  auto report = parse_junit(slurp(dir / "out.xml"), "out.xml");
  ASSERT_TRUE(report) << report.error().message();
  ASSERT_EQ(report->cases.size(), 3u);
  EXPECT_EQ(report->count(TestStatus::passed), 1);
  EXPECT_EQ(report->count(TestStatus::failed), 1);
  EXPECT_EQ(report->count(TestStatus::skipped), 1);
  const TestCase& bad = report->cases[1];
  EXPECT_EQ(bad.id(), "test_sample.test_bad");
  EXPECT_EQ(bad.status, TestStatus::failed);
  EXPECT_NE(bad.message.find("one is not two"), std::string::npos) << bad.message;
  EXPECT_NE(bad.output.find("assert 1 == 2"), std::string::npos) << bad.output;
  EXPECT_EQ(report->cases[2].message, "later");
}

TEST(JunitReport, GoogleTestReport_OfThisBinary) {
  ScratchDir dir;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  auto r = run_command({self, "--gtest_filter=JunitReport.Malformed*:JunitReport.Hostile*",
                        "--gtest_output=xml:" + (dir / "g.xml")});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto report = parse_junit(slurp(dir / "g.xml"), "g.xml");
  ASSERT_TRUE(report) << report.error().message();
  ASSERT_EQ(report->cases.size(), 2u);
  EXPECT_EQ(report->count(TestStatus::passed), 2);
  EXPECT_EQ(report->cases[0].suite, "JunitReport");
  EXPECT_EQ(report->cases[0].id(), "JunitReport.MalformedReports_AreErrorsNamingTheFile");
}

TEST(JunitReport, MalformedReports_AreErrorsNamingTheFile) {
  for (const std::string& xml : {std::string(""), std::string("<testsuite"), std::string("<html><body/></html>"),
                                 std::string("not xml at all"), std::string(1 << 16, '<')}) {
    auto report = parse_junit(xml, "reports/unit.xml");
    ASSERT_FALSE(report) << xml.substr(0, 40);
    EXPECT_NE(report.error().message().find("reports/unit.xml"), std::string::npos) << report.error().message();
    EXPECT_NE(report.error().message().find("not a JUnit XML report"), std::string::npos) << report.error().message();
  }
  auto big = parse_junit(std::string(kMaxReportBytes + 1, ' '), "big.xml");
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message().find("big.xml: report of"), std::string::npos);
}

TEST(JunitReport, HostileReports_NoExternalEntity_NoExpansion) {
  // An external entity naming a host file, and a billion-laughs expansion.
  const std::string xxe = R"(<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuite name="s"><testcase classname="c" name="n"><failure message="&secret;">&secret;</failure></testcase></testsuite>)";
  auto report = parse_junit(xxe, "xxe.xml");
  if (report) {
    ASSERT_EQ(report->cases.size(), 1u);
    EXPECT_EQ(report->cases[0].output.find("root:"), std::string::npos) << report->cases[0].output;
    EXPECT_EQ(report->cases[0].message.find("root:"), std::string::npos) << report->cases[0].message;
  }
  std::string laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE l [<!ENTITY l0 \"lol\">";
  for (int i = 1; i < 10; ++i)
    laughs += "<!ENTITY l" + std::to_string(i) + " \"" +
              [&] { std::string s; for (int k = 0; k < 10; ++k) s += "&l" + std::to_string(i - 1) + ";"; return s; }() +
              "\">";
  laughs += "]>\n<testsuite name=\"s\"><testcase classname=\"c\" name=\"n\"><failure>&l9;</failure></testcase></testsuite>";
  auto bomb = parse_junit(laughs, "bomb.xml");
  if (bomb) {
    ASSERT_EQ(bomb->cases.size(), 1u);
    EXPECT_LE(bomb->cases[0].output.size(), kMaxTestText + 64);
  }
}

TEST(JunitReport, NestedSuitesErrorsAndCaps) {
  std::string xml = "<testsuites><testsuite name=\"outer\"><testsuite name=\"inner\">"
                    "<testcase classname=\"k\" name=\"e\" time=\"1.5\"><error message=\"boom\">trace</error>"
                    "<system-out>printed</system-out></testcase>"
                    "<testcase name=\"nocls\" time=\"bogus\"/></testsuite></testsuite></testsuites>";
  auto report = parse_junit(xml, "n.xml");
  ASSERT_TRUE(report) << report.error().message();
  ASSERT_EQ(report->cases.size(), 2u);
  EXPECT_EQ(report->cases[0].status, TestStatus::error);
  EXPECT_EQ(report->cases[0].duration_ms, 1500);
  EXPECT_EQ(report->cases[0].message, "boom");
  EXPECT_EQ(report->cases[0].output, "trace\nprinted");
  EXPECT_EQ(report->cases[1].id(), "inner.nocls");
  EXPECT_EQ(report->cases[1].duration_ms, 0);
}

}  // namespace
}  // namespace gantry::runner
