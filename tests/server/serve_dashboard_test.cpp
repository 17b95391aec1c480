// The dashboard in real headless Chromium (tests/server/dashboard_browser.py,
// selenium from Debian's python3-selenium): a run appears live, its stages
// change state, its log follows live, its test report shows the failed test
// first, Promote with the token moves the digest. Screenshots go to build/tests/output/dashboard/.
#include <filesystem>

#include "tests/server/serve_fixture.h"

namespace gantry::testing {
namespace {

class ServeDashboardTest : public ServeFixture {};

TEST_F(ServeDashboardTest, Chromium_RunAppears_StagesChange_LogFollows_PromoteMovesTheDigest) {
  if (::access("/usr/bin/chromium", X_OK) != 0 || ::access("/usr/bin/chromedriver", X_OK) != 0 ||
      run_command({"/usr/bin/python3", "-c", "import selenium"}).exit_code != 0)
    GTEST_SKIP() << "needs chromium, chromium-driver and python3-selenium (ci/setup installs them)";
  commit({{".gantry.yml",
           "images:\n  app:\n    from: busybox\n    steps:\n      - copy: VERSION /VERSION\n"
           "stages:\n"
           "  unit: {image: app, run: 'for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.5; done', cache: false}\n"
           "  lint:\n"
           "    image: app\n"
           "    needs: [unit]\n"
           "    reports: {junit: /out/lint.xml}\n"
           "    run: |\n"
           "      mkdir -p /out\n"
           "      echo '<testsuite name=\"lint\" tests=\"2\" failures=\"1\"><testcase classname=\"style\" "
           "name=\"tabs\"/><testcase classname=\"style\" name=\"line_length\"><failure message=\"line 7 is 130 "
           "long\">x</failure></testcase></testsuite>' > /out/lint.xml\n"
           "  smoke: {image: app, environment: staging, run: 'echo smoke'}\n"
           "environments:\n  - test\n  - {name: staging, when: manual}\n"},
          {"VERSION", "1\n"}},
         "dashboard");
  start_server();
  const std::string out = std::filesystem::current_path().string() + "/output/dashboard";
  auto r = run_command({"/usr/bin/python3", source_dir() + "/tests/server/dashboard_browser.py", base_url_, token_, out});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err << "\nserver log:\n" << server_log();
  EXPECT_NE(r.out.find("OK"), std::string::npos) << r.out;
  for (const char* png :
       {"1-runs-empty.png", "2-run-live-log.png", "3-run-waiting.png", "5-environments-promoted.png", "6-runs-phone.png"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + png)) << png;
}

}  // namespace
}  // namespace gantry::testing
