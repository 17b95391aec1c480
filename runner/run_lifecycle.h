// The life of a run's record beyond its stages' results (private to
// runner/run_* and runner/cmd_*):
//  - every stage of the pipeline is in the record from the start ("pending"),
//    and one that never ran ends "skipped" with the reason;
//  - a run whose process died (SIGKILL, OOM killer, power) is found by the
//    next command that reads runs and marked "interrupted", and what its
//    containers left (container dirs, cgroups) is swept.
#pragma once

#include <cstddef>

#include "cache/metadata.h"
#include "cache/run_lock.h"
#include "cache/store.h"
#include "runner/run_context.h"

namespace gantry::runner {

// Records every stage of environments [first_env, end) as "pending" (no
// result yet): `show` and `--json` list the whole pipeline while it runs,
// and an interrupted run names the stages it never finished.
Status record_pending_stages(RunContext& ctx, std::size_t first_env = 0);

// Every stage of the run still "pending" becomes "skipped" with its reason:
// "waiting at manual gate G" (a stage of the gate's environment or a later
// one, while the run waits at G), else "environment E not reached". Each is
// reported to the live view too.
Status settle_pending_stages(RunContext& ctx, const cache::RunRecord& run);

// Marks every "running" run whose process died as "interrupted" (see
// cache::mark_dead_runs_interrupted) and sweeps the container dirs and cgroups no
// live process holds (executor::sweep_leftovers on the store's
// containers_dir). Called by every command that reads runs (run, retry,
// promote, history, show, logs, env ls, watch, gc). A failed sweep is a
// warning on stderr, never the command's failure.
Status recover_dead_runs(cache::Store& store);

}  // namespace gantry::runner
