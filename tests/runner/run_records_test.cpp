// Honest run records: a cached stage's `seconds` is this run's time (the
// first run's in `original_seconds`); `run --json` has per-step build records
// and `built` means a step ran; a failed build keeps every step's log, and
// `logs`, `history` and `show` name the failed image and step.
#include <filesystem>

#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunRecordsTest : public RunFixture {};

TEST_F(RunRecordsTest, CachedStage_SecondsIsThisRunsTime_OriginalSecondsTheFirstRuns) {
  commit({{".gantry.yml", "stages:\n  slow: {image: busybox, run: 'sleep 1; echo done'}\n"}});
  auto first = run_json();
  ASSERT_EQ(first.value("status", ""), "passed") << first.dump(2);
  const auto& ran = stage(first, "slow");
  EXPECT_FALSE(ran.value("cached", true));
  EXPECT_GE(ran.value("seconds", 0.0), 1.0);
  EXPECT_TRUE(ran["original_seconds"].is_null());

  auto second = run_json();  // the same commit again
  ASSERT_EQ(second.value("status", ""), "passed") << second.dump(2);
  const auto& hit = stage(second, "slow");
  ASSERT_TRUE(hit.value("cached", false)) << second.dump(2);
  EXPECT_LT(hit.value("seconds", 99.0), 0.5);  // a look-up, not the sleep
  EXPECT_DOUBLE_EQ(hit.value("original_seconds", 0.0), ran.value("seconds", -1.0));
  EXPECT_EQ(hit.value("cached_from", ""), first.value("id", ""));
}

TEST_F(RunRecordsTest, RunJson_HasPerStepBuildRecords_BuiltOnlyWhenAStepRan) {
  commit({{".gantry.yml",
           "images:\n  app:\n    from: busybox\n    steps:\n"
           "      - run: echo compiling; echo out > /out\n"
           "      - copy: VERSION /VERSION\n"
           "      - env: {MODE: release}\n"
           "stages:\n  unit: {image: app, run: cat /out /VERSION}\n"},
          {"VERSION", "1\n"}});
  auto first = run_json();
  ASSERT_EQ(first.value("status", ""), "passed") << first.dump(2);
  ASSERT_EQ(first["images"].size(), 1u) << first.dump(2);
  const auto& image = first["images"][0];
  EXPECT_TRUE(image.value("built", false));
  EXPECT_TRUE(image.value("from_pipeline", false));
  ASSERT_EQ(image["steps"].size(), 3u) << image.dump(2);
  const auto& run_step = image["steps"][0];
  EXPECT_EQ(run_step.value("index", 0), 1);
  EXPECT_EQ(run_step.value("kind", ""), "run");
  EXPECT_FALSE(run_step.value("cached", true));
  EXPECT_EQ(run_step.value("status", ""), "passed");
  EXPECT_EQ(run_step.value("key", "").substr(0, 7), "sha256:");
  const std::string log = run_step.value("log", "");
  ASSERT_FALSE(log.empty());
  EXPECT_NE(read_file_or_die(log).find("compiling"), std::string::npos);
  EXPECT_EQ(image["steps"][1].value("kind", ""), "copy");
  EXPECT_EQ(image["steps"][1].value("log", "x"), "");  // a copy runs no command

  // The same records as `gantry build --json` gives for the same steps.
  auto built = build_json();
  ASSERT_EQ(built["images"][0]["steps"].size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(built["images"][0]["steps"][i].value("key", ""), image["steps"][i].value("key", "-"));
    EXPECT_EQ(built["images"][0]["steps"][i].value("description", ""), image["steps"][i].value("description", "-"));
  }

  // Every step cached: built is false, and each step says so.
  commit({{"other", "x\n"}});
  auto second = run_json();
  ASSERT_EQ(second.value("status", ""), "passed") << second.dump(2);
  const auto& again = second["images"][0];
  EXPECT_FALSE(again.value("built", true)) << again.dump(2);
  EXPECT_TRUE(again.value("from_pipeline", false));
  ASSERT_EQ(again["steps"].size(), 3u);
  for (const auto& step : again["steps"]) EXPECT_TRUE(step.value("cached", false)) << step.dump();
  EXPECT_EQ(again.value("digest", ""), image.value("digest", "-"));
}

TEST_F(RunRecordsTest, FailedBuild_KeepsTheStepLog_LogsHistoryAndShowNameTheImageAndStep) {
  commit({{".gantry.yml",
           "images:\n  lib:\n    from: busybox\n    steps:\n"
           "      - run: echo configured > /cfg\n"
           "      - run: \"echo 'checking for cc... no'; echo 'configure: error: no C compiler' >&2; exit 3\"\n"
           "      - run: echo never\n"
           "stages:\n  unit: {image: lib, run: 'true'}\n"}});
  auto run = run_json({}, {}, 1);
  ASSERT_EQ(run.value("status", ""), "failed") << run.dump(2);
  const std::string id = run.value("id", "");
  ASSERT_TRUE(run["failed_step"].is_object()) << run.dump(2);
  EXPECT_EQ(run["failed_step"].value("image", ""), "lib");
  EXPECT_EQ(run["failed_step"].value("index", 0), 2);
  EXPECT_NE(run["failed_step"].value("detail", "").find("exit code 3"), std::string::npos) << run.dump(2);
  ASSERT_EQ(run["build_steps"].size(), 2u) << run.dump(2);  // step 3 never started

  auto logs = run_gantry(store_, {"logs", id});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_NE(logs.out.find("== build lib #2"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("checking for cc... no"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("configure: error: no C compiler"), std::string::npos) << logs.out;  // stderr too
  EXPECT_NE(logs.out.find("exit code 3"), std::string::npos) << logs.out;
  auto one_image = run_gantry(store_, {"logs", id, "lib"});
  EXPECT_EQ(one_image.exit_code, 0) << one_image.err;
  EXPECT_NE(one_image.out.find("configured"), std::string::npos) << one_image.out;

  auto history = run_gantry(store_, {"history"});
  EXPECT_EQ(history.exit_code, 0) << history.err;
  EXPECT_NE(history.out.find("build failed: lib step #2"), std::string::npos) << history.out;
  auto show = run_gantry(store_, {"show", id});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("failed   image lib, step #2"), std::string::npos) << show.out;
}

}  // namespace
}  // namespace gantry::testing
