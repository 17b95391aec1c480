// Test reports end to end (issue 19): a stage's `reports: {junit: ...}` are
// read out of its container after every attempt, kept with the stage's
// result, shown by `gantry tests` failed first, and a test whose outcome
// changed for the same stage key is flaky. A malformed report and a report
// that is a symlink to a host file are warnings, never a failure or a leak.
#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunTestReportsTest : public RunFixture {};

// `unit` fails Math.Adds on its first attempt only (GANTRY_ATTEMPT), so it
// passes on the retry; `lint` always fails one test (allowed to fail).
const char* kPipeline = R"(stages:
  unit:
    image: busybox
    workspace: false
    retry: 1
    reports: {junit: ["/out/*.xml"]}
    run: |
      mkdir -p /out
      r=''
      if [ "$GANTRY_ATTEMPT" = 1 ]; then r='<failure message="expected 2, got 3">math_test.cc:12: Failure</failure>'; fi
      cat > /out/gtest.xml <<EOF
      <?xml version="1.0" encoding="UTF-8"?>
      <testsuites tests="2" name="AllTests">
        <testsuite name="Math" tests="2">
          <testcase name="Adds" classname="Math" time="0.002">$r</testcase>
          <testcase name="Subtracts" classname="Math" time="0.001"/>
        </testsuite>
      </testsuites>
      EOF
      echo '<testsuite><testcase name="broken"' > /out/broken.xml
      ln -s /etc/shadow /out/leak.xml
      [ "$GANTRY_ATTEMPT" = 2 ]
  lint:
    image: busybox
    workspace: false
    allow_failure: true
    reports: {junit: /out/lint.xml}
    run: |
      mkdir -p /out
      printf '<testsuite name="Lint"><testcase classname="Lint" name="Style"><failure message="line too long">main.c:3</failure></testcase><testcase classname="Lint" name="Tabs"/></testsuite>' > /out/lint.xml
      exit 1
)";

TEST_F(RunTestReportsTest, ReportsPerAttempt_FailedFirst_FlakyOnRetry_BadReportsAreWarnings_CachedRunShowsTheFirst) {
  GANTRY_REQUIRE_ROOT();
  commit({{".gantry.yml", kPipeline}});
  auto run = run_json();
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  const std::string id = run["id"];
  EXPECT_EQ(stage(run, "unit")["attempts"], 2);

  auto tests = gantry_json({"tests", id, "--json"});
  ASSERT_EQ(tests["stages"].size(), 2u) << tests.dump(2);
  const nlohmann::json* unit = nullptr;
  const nlohmann::json* lint = nullptr;
  for (const auto& s : tests["stages"]) (s["stage"] == "unit" ? unit : lint) = &s;
  ASSERT_TRUE(unit && lint) << tests.dump(2);

  // unit: the final attempt's totals; Math.Adds failed then passed for the same key: flaky.
  EXPECT_EQ((*unit)["attempts"], 2);
  EXPECT_EQ((*unit)["totals"]["tests"], 2);
  EXPECT_EQ((*unit)["totals"]["passed"], 2);
  EXPECT_EQ((*unit)["flaky"], nlohmann::json::array({"Math.Adds"}));
  // The malformed report and the symlink are warnings; /etc/shadow is never read.
  std::string warnings = (*unit)["warnings"].dump();
  EXPECT_NE(warnings.find("/out/broken.xml"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("/out/leak.xml is not a regular file"), std::string::npos) << warnings;
  EXPECT_EQ(tests.dump().find("root:"), std::string::npos) << "a line of the host's /etc/shadow leaked";

  // lint: the failed test first, with its message and text.
  EXPECT_EQ((*lint)["totals"]["failed"], 1);
  ASSERT_GE((*lint)["cases"].size(), 2u);
  EXPECT_EQ((*lint)["cases"][0]["id"], "Lint.Style");
  EXPECT_EQ((*lint)["cases"][0]["status"], "failed");
  EXPECT_EQ((*lint)["cases"][0]["message"], "line too long");
  EXPECT_NE((*lint)["cases"][0]["output"].get<std::string>().find("main.c:3"), std::string::npos);
  EXPECT_EQ((*lint)["flaky"], nlohmann::json::array());

  auto text = run_gantry(store_, {"tests", id, "lint"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("lint: 2 tests, 1 failed, 0 skipped"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("FAILED Lint.Style: line too long"), std::string::npos) << text.out;

  auto flaky = gantry_json({"tests", "--flaky", "--json"});
  ASSERT_EQ(flaky["flaky"].size(), 1u) << flaky.dump(2);
  EXPECT_EQ(flaky["flaky"][0]["stage"], "unit");
  EXPECT_EQ(flaky["flaky"][0]["test"], "Math.Adds");
  EXPECT_EQ(flaky["flaky"][0]["failed_in"], nlohmann::json::array({id}));

  // The same commit again: unit comes from the stage cache and shows the
  // results of the run it was cached from.
  auto again = run_json();
  ASSERT_EQ(again.value("status", ""), "passed") << again.dump(2);
  EXPECT_TRUE(stage(again, "unit").value("cached", false));
  auto cached = gantry_json({"tests", again["id"], "unit", "--json"});
  ASSERT_EQ(cached["stages"].size(), 1u) << cached.dump(2);
  EXPECT_EQ(cached["stages"][0]["cached_from"], id);
  EXPECT_EQ(cached["stages"][0]["totals"]["passed"], 2);

  // A stage without reports: a clear not-found.
  auto none = run_gantry(store_, {"tests", id, "nosuchstage"});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("kept no test results"), std::string::npos) << none.err;
}

}  // namespace
}  // namespace gantry::testing
