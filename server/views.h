// The JSON shapes the API and the event stream share (docs/serve.md).
#pragma once

#include <nlohmann/json.hpp>

#include "cache/metadata.h"
#include "cache/run_queue.h"

namespace gantry::server {

// A row of GET /runs and the data of a "run" event:
// {"id","status","project","repo","rev","branch","commit","subject","source",
//  "error","waiting_environment","started","finished","seconds"}
nlohmann::json summary_json(const cache::RunSummary& run);
// A run record's head as a summary (branch, subject and source from its queue entry, if any).
cache::RunSummary summary_of(const cache::RunRecord& run, const cache::QueueEntry* entry);
// A queue entry that has no run record.
cache::RunSummary summary_of(const cache::QueueEntry& entry);
// The data of a "stage" event: {"run","stage","environment","status","cached","seconds","detail","exit_code"}
nlohmann::json stage_event_json(const cache::StageResult& stage);
// The data of a "promotion" event: cache::promotion_event_json.

}  // namespace gantry::server
