// A stage's test results: the JUnit XML reports its `reports: {junit: ...}`
// names, read out of its container after every attempt (passed or failed)
// and kept next to its log as <run dir>/<stage>.tests.json. A missing or
// malformed report is a warning on the stage, never a failure of it.
//
// Flaky tests: a test whose outcomes differ (failed or error, and passed)
// for the same stage key, in the attempts of one run (retry) or across runs
// of the project (a rerun on unchanged inputs).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/store.h"
#include "common/error.h"
#include "runner/junit_report.h"

namespace gantry::runner {

struct AttemptTests {
  int attempt = 1;
  std::vector<std::string> files;     // the reports read, as the container saw them
  std::vector<std::string> warnings;  // missing, unreadable or malformed reports
  TestReport report;                  // every case of every file
};

struct StageTests {
  std::string run_id;
  std::string stage;
  std::string key;  // the stage key (also when the stage cache is off)
  std::vector<AttemptTests> attempts;
};

// Reads and parses the reports matching `patterns` in the container's merged
// view (upper over layers; nothing followed, see stage_artifacts.h).
AttemptTests read_attempt_tests(const std::vector<std::string>& patterns, int attempt, const std::string& upper_dir,
                                const std::vector<std::string>& lowerdirs);

// The file's JSON: {"run","stage","key","attempts":[{"attempt","files","warnings",
// "totals":{"tests","passed","failed","error","skipped"},"cases":[...]}]}.
nlohmann::json stage_tests_json(const StageTests& tests);
Status save_stage_tests(const std::string& path, const StageTests& tests);
// nullopt when the stage kept no test results.
Result<std::optional<StageTests>> load_stage_tests(const std::string& path);

// "totals" of an attempt.
nlohmann::json test_totals_json(const TestReport& report);

// The ids of the tests that are flaky for `key`, given every recorded
// StageTests of that stage key (one or many runs).
std::vector<std::string> flaky_tests(const std::vector<const StageTests*>& same_key);

}  // namespace gantry::runner
