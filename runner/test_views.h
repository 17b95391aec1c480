// `gantry tests`: the test results of a run's stages (stage_tests.h), failed
// tests first, and the flaky tests of a project. The JSON forms are also the
// server's (GET /api/v1/runs/{id}/tests, GET /api/v1/tests/flaky).
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cache/store.h"
#include "common/error.h"

namespace gantry::runner {

// {"run","stages":[{"stage","cached_from","key","attempts","totals","warnings",
//   "flaky":[ids],"cases":[failed and error first, then skipped, then passed]}]}
// for every stage that kept test results (or only `stage`; not_found when it
// kept none). A cached stage shows the results of the run it was cached from.
Result<nlohmann::json> run_tests_json(cache::Store& store, const std::string& run_id, const std::string& stage = "");
Status print_tests(cache::Store& store, const std::string& run_id, const std::string& stage, bool json,
                   std::ostream& out);

// {"project","runs_examined","flaky":[{"stage","key","test","failed_in":[run ids],"passed_in":[run ids]}]}
// over the newest `runs` runs of the project.
Result<nlohmann::json> flaky_tests_json(cache::Store& store, const std::string& project, int runs);
Status print_flaky_tests(cache::Store& store, const std::string& project, int runs, bool json, std::ostream& out);

}  // namespace gantry::runner
