// What `gantry env ls`, `history`, `show` and `logs` print (tables for
// people, JSON for scripts). Private to runner/cmd_run.cpp.
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cache/metadata.h"
#include "cache/store.h"
#include "common/error.h"

namespace gantry::runner {

// [{"project","image","environment","digest","commit","run","time","previous_digest"}] or a table.
// `project`: one project's rows ("" = every project's).
Status print_environments(cache::Store& store, const std::string& project, const std::string& image, bool json,
                          std::ostream& out);
// {"project", "runs": [...run records...], "promotions": [...events...]} or two tables.
Status print_history(cache::Store& store, const std::string& project, const std::string& image, int limit, bool json,
                     std::ostream& out);
// The run record (JSON) or a summary.
Status print_run(cache::Store& store, const std::string& run_id, bool json, std::ostream& out);
// The logs of every stage of the run (with a header each), or one stage's log.
// `service` non-empty: the log of that service of `stage` (`services:`).
Status print_logs(cache::Store& store, const std::string& run_id, const std::string& stage, std::ostream& out,
                  const std::string& service = "");

}  // namespace gantry::runner
