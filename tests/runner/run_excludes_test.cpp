// `!pattern` entries in copy sources and stage inputs: what they exclude is
// not in the image or the workspace, and not in the keys, so a README-only
// commit keeps the build and the stage cached.
#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunExcludesTest : public RunFixture {
 protected:
  void SetUp() override {
    RunFixture::SetUp();
    if (IsSkipped()) return;
    commit({{".gantry.yml",
             "images:\n  lib:\n    from: busybox\n    steps:\n"
             "      - copy: ['.', '!docs/', '!*.md', 'docs/api.md', /src/]\n"
             "      - run: ls -R /src > /listing\n"
             "stages:\n"
             "  check:\n"
             "    image: lib\n"
             "    inputs: [., '!*.md', '!docs/']\n"
             "    run:\n"
             "      - test -f /src/main.c && test -f /src/sub/util.c\n"
             "      - test ! -e /src/README.md && test ! -e /src/sub/NOTES.md && test ! -e /src/docs/guide.txt\n"
             "      - test -f /src/api.md\n"  // a later include brings it back (a file source: at its basename)
             "      - test -f /workspace/main.c && test ! -e /workspace/README.md && test ! -e /workspace/docs\n"},
            {"main.c", "int main(void) { return 0; }\n"},
            {"sub/util.c", "int util;\n"},
            {"sub/NOTES.md", "notes\n"},
            {"README.md", "# lib\n"},
            {"docs/guide.txt", "guide\n"},
            {"docs/api.md", "api\n"}});
  }
  static bool every_step_cached(const nlohmann::json& run) {
    for (const auto& step : run["images"][0]["steps"])
      if (!step.value("cached", false)) return false;
    return true;
  }
};

TEST_F(RunExcludesTest, ReadmeOnlyCommit_KeepsTheBuildAndTheStageCached) {
  auto first = run_json();
  ASSERT_EQ(first.value("status", ""), "passed") << first.dump(2);
  EXPECT_TRUE(first["images"][0].value("built", false));
  EXPECT_FALSE(stage(first, "check").value("cached", true));

  commit({{"README.md", "# lib\n\nNow with a better README.\n"}, {"sub/NOTES.md", "more notes\n"}}, "docs");
  auto readme = run_json();
  ASSERT_EQ(readme.value("status", ""), "passed") << readme.dump(2);
  EXPECT_FALSE(readme["images"][0].value("built", true)) << readme.dump(2);
  EXPECT_TRUE(every_step_cached(readme)) << readme.dump(2);
  EXPECT_EQ(readme["images"][0].value("digest", ""), first["images"][0].value("digest", "-"));
  EXPECT_TRUE(stage(readme, "check").value("cached", false)) << readme.dump(2);

  commit({{"docs/guide.txt", "a new guide\n"}}, "excluded directory");
  auto guide = run_json();
  EXPECT_TRUE(every_step_cached(guide)) << guide.dump(2);
  EXPECT_TRUE(stage(guide, "check").value("cached", false));

  // What remains is keyed: a source change rebuilds and reruns.
  commit({{"sub/util.c", "int util = 1;\n"}}, "code");
  auto code = run_json();
  ASSERT_EQ(code.value("status", ""), "passed") << code.dump(2);
  EXPECT_TRUE(code["images"][0].value("built", false));
  EXPECT_FALSE(code["images"][0]["steps"][0].value("cached", true));
  EXPECT_FALSE(stage(code, "check").value("cached", true));
}

TEST_F(RunExcludesTest, AnExcludeBeforeAnyInclude_IsRefusedWithItsPosition) {
  commit({{".gantry.yml",
           "images:\n  lib:\n    from: busybox\n    steps:\n      - copy: ['!*.md', ., /src/]\n"
           "stages:\n  check: {image: lib, run: 'true'}\n"}});
  auto r = run({});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find(".gantry.yml:5:15: images.lib.steps[0].copy: '!*.md' excludes from nothing"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace gantry::testing
