// One deploy at a time (issue 19): two runs of one project started together
// take turns at an environment with `concurrency: 1`; its stages never
// overlap, the later run says what it waits for, and both promote (the
// pointer ends at the later one, the history has both).
#include <algorithm>
#include <future>

#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunConcurrencyTest : public RunFixture {};

TEST_F(RunConcurrencyTest, TwoRunsAtOnce_TakeTurnsAtStaging_StagesNeverOverlap) {
  GANTRY_REQUIRE_ROOT();
  commit({{".gantry.yml",
           "environments: [test, {name: staging, concurrency: 1}]\n"
           "stages:\n"
           "  unit: {image: busybox, workspace: false, cache: false, run: 'true'}\n"
           "  deploy:\n"
           "    image: busybox\n"
           "    environment: staging\n"
           "    workspace: false\n"
           "    cache: false\n"
           "    run: 'date +%s%N; sleep 1; date +%s%N'\n"}});
  // Plain output (the notes are on stdout), the records from `gantry show`.
  auto plain_run = [&] { return run_command({gantry_binary(), "--store", store_, "run", repo_}); };
  auto first = std::async(std::launch::async, plain_run);
  auto second = std::async(std::launch::async, plain_run);
  CommandResult results[] = {first.get(), second.get()};
  bool someone_waited = false;
  for (const auto& r : results) {
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    if (r.out.find("waiting for staging (run ") != std::string::npos) someone_waited = true;
  }
  EXPECT_TRUE(someone_waited) << results[0].out << "\n---\n" << results[1].out;
  std::vector<nlohmann::json> runs;
  const auto recorded = gantry_json({"history", "--json"});  // kept alive: the loop reads into it
  for (const auto& r : recorded["runs"]) {
    runs.push_back(gantry_json({"show", r["id"].get<std::string>(), "--json"}));
    ASSERT_EQ(runs.back().value("status", ""), "passed") << runs.back().dump(2);
  }
  ASSERT_EQ(runs.size(), 2u);

  // The deploy stages' [start, end] intervals do not overlap.
  std::vector<std::pair<std::int64_t, std::int64_t>> spans;
  for (const auto& r : runs) {
    const auto& d = stage(r, "deploy");
    auto start = d["started_ms"].get<std::int64_t>();
    spans.emplace_back(start, start + static_cast<std::int64_t>(d["seconds"].get<double>() * 1000));
  }
  std::sort(spans.begin(), spans.end());
  EXPECT_LE(spans[0].second, spans[1].first + 20) << "deploy of both runs ran at once";

  // Both reached staging in turn; busybox's digest is the same in both, so
  // the second promotion finds it there already: one event.
  auto history = gantry_json({"history", "--json"});
  int staging_events = 0;
  for (const auto& e : history["promotions"])
    if (e["environment"] == "staging") ++staging_events;
  EXPECT_EQ(staging_events, 1) << history.dump(2);
}

TEST_F(RunConcurrencyTest, BadConcurrency_IsAnErrorAtItsLine) {
  commit({{".gantry.yml",
           "environments: [test, {name: staging, concurrency: 0}]\n"
           "stages:\n"
           "  unit: {image: busybox, run: 'true'}\n"}});
  auto r = run();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(".gantry.yml:1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("expected a number of runs from 1 to 100, or 'unlimited', got '0'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gantry::testing
