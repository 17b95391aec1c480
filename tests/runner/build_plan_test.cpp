// gantry build --plan (--explain --dry-run): which steps would hit and which
// would miss and why, computed without starting a container or writing
// anything.
#include "tests/runner/build_fixture.h"

namespace gantry::testing {
namespace {

class BuildPlanTest : public BuildFixture {
 protected:
  void pipeline(const std::string& source) {
    commit({{".gantry.yml",
             "images:\n"
             "  base:\n    from: busybox\n    steps:\n      - copy: src/ /src/\n      - run: cat /src/main.c > /built\n"
             "  app:\n    from: base\n    steps:\n      - run: echo app > /app\n"},
            {"src/main.c", source}});
  }
  nlohmann::json plan_json() {
    auto r = build({"--plan", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    try {
      return nlohmann::json::parse(r.out);
    } catch (const nlohmann::json::exception& e) {
      ADD_FAILURE() << e.what() << "\n" << r.out;
      return nlohmann::json::object();
    }
  }
};

TEST_F(BuildPlanTest, Plan_SaysWhichStepsMissAndWhy_RunsAndWritesNothing) {
  pipeline("int main(void) { return 0; }\n");
  // Nothing built yet: every step would run, and nothing is written by saying so.
  auto fresh = plan_json();
  EXPECT_EQ(counter(fresh, "containers_started"), 0u);
  EXPECT_TRUE(image_of(fresh, "base").value("would_build", false));
  EXPECT_TRUE(image_of(fresh, "app")["steps"][0].value("would_run", false));
  EXPECT_NE(image_of(fresh, "app")["steps"][0].value("why", "").find("base image base would be rebuilt"),
            std::string::npos)
      << fresh.dump(2);

  auto first = build_json();
  EXPECT_EQ(counter(first, "cache_misses"), 3u);  // the plan recorded nothing

  // Unchanged: every step hits, with the digest the build made.
  auto same = plan_json();
  EXPECT_FALSE(image_of(same, "base").value("would_build", true)) << same.dump(2);
  EXPECT_EQ(image_of(same, "app").value("digest", ""), image_of(first, "app").value("digest", "-"));

  // A source change: the copy misses (and says what changed), the rest follows.
  pipeline("int main(void) { return 1; }\n");
  auto r = build({"--plan"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("base: 2 of 2 steps would run"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("#1 copy src/ /src/  miss: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("#2 run: cat /src/main.c > /built  miss: an earlier step runs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("app: 1 of 1 steps would run"), std::string::npos) << r.out;
  auto changed = plan_json();
  EXPECT_EQ(counter(changed, "containers_started"), 0u);
  EXPECT_EQ(counter(changed, "cache_misses"), 3u);
  EXPECT_TRUE(image_of(changed, "base")["digest"].is_null());
  // --explain --dry-run is the same plan.
  auto explain = build({"--explain", "--dry-run"});
  EXPECT_EQ(explain.out, r.out);

  // The real build then runs exactly what the plan said.
  auto second = build_json();
  EXPECT_EQ(counter(second, "cache_misses"), 3u);
  EXPECT_EQ(counter(second, "containers_started"), 2u);
}

}  // namespace
}  // namespace gantry::testing
