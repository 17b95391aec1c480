// gantry retry RUN: the same repository, commit and pipeline file again, as a
// new run that records which run it retries. The stage cache does the rest:
// a stage that passed has the same key, so it is served from the cache;
// failed, interrupted and skipped stages had no cached result and run again.
#include "runner/run_lifecycle.h"
#include "runner/run_pipeline.h"

namespace gantry::runner {

Result<cache::RunRecord> retry_run(cache::Store& store, const std::string& run_id, RunOptions options,
                                   Reporter& reporter, std::stop_token stop) {
  TRY(recover_dead_runs(store));  // a dead "running" run becomes "interrupted" first
  cache::Metadata& meta = store.metadata();
  auto old = TRY(meta.find_run(run_id));
  if (old.status == cache::RunStatus::running)
    return fail(ErrorKind::conflict, "run " + old.id + " is still running (its gantry process is alive); retry it "
                                     "once it has ended");
  options.repo = old.repo;
  options.rev = old.commit;
  options.file = old.pipeline_file;
  options.retry_of = old.id;
  options.branch = old.rev;  // provenance: the branch the original run's revision named (if the commit is on it)
  reporter.note("retrying run " + old.id + " (" + std::string(to_string(old.status)) + "): " + old.repo + " at " +
                old.commit.substr(0, 12));
  return run_pipeline(store, options, reporter, stop);
}

}  // namespace gantry::runner
