// gantry watch: runs the pipeline for every new commit of a branch, oldest
// first, one run at a time, surviving failed runs. The last commit handled is
// kept in meta.db (watch_positions) per repository and branch, so a restarted
// watch carries on where it stopped; the first watch of a branch starts at its
// current tip (or at --since) without running it.
#pragma once

#include "runner/cli.h"

#include <chrono>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "pipeline/git_repo.h"

#include "runner/reporter.h"
#include "runner/run_pipeline.h"

namespace gantry::runner {

struct WatchOptions {
  RunOptions run;             // repo, file, jobs, no_cache (rev is set per commit)
  std::string branch;         // "" = HEAD
  std::chrono::milliseconds interval{5000};
  std::string since;          // start after this revision instead of the saved position / tip
  int max_runs = 0;           // stop after this many runs (0 = never)
  bool once = false;          // handle what is new now, then stop
  bool json = false;          // print each run record as one JSON line
};

// What a watch of `branch` ("" = HEAD) has to run, given where it stands
// (`position`, the last commit handled): the commits after it, oldest first.
// With no position yet, no commit: the watch starts at `start` (the branch's
// tip, or `since` when given) without running it. Shared by `gantry watch`
// and the branches `gantry serve` polls (server/branch_poll.h).
struct WatchNews {
  std::optional<pipeline::Commit> start;  // set when there was no position
  std::vector<pipeline::Commit> commits;
};
Result<WatchNews> watch_news(pipeline::GitRepo& repo, const std::string& branch,
                             const std::optional<std::string>& position, const std::string& since = {});

// Returns the exit code: 0, or 1 when the repository cannot be watched at all.
// The store is global.store_dir, its record --db's when given (store_open.h).
int watch(const GlobalOptions& global, const WatchOptions& options, Reporter& reporter, std::stop_token stop);

}  // namespace gantry::runner
