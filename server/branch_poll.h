// The branches `gantry serve` polls itself (issue 16): a repository of the
// serve config with `branches:` and/or `poll:` (serve_config.h) is asked
// every `poll` interval for new commits on each branch, and each new commit
// is queued exactly as a push webhook would queue it (source "poll"), oldest
// first. The same dedupe holds: a commit of the repository that is already
// queued or run (by a webhook, the API or an earlier poll) is not queued
// again.
//
// Where each branch stands is kept in the store's database (the watch
// positions of `gantry watch`, under the key "serve:<repo name>"), moved past
// a commit only once it is queued: a restarted server carries on after the
// last commit it queued, and a crash between the two is caught by the dedupe.
// The first poll of a branch starts at its tip without running it (as
// `gantry watch` does: runner/run_watch.h, whose rule Backend::branch_news
// applies).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cache/store.h"
#include "common/clock.h"
#include "server/backend.h"
#include "server/run_supervisor.h"
#include "server/serve_config.h"

namespace gantry::server {

class BranchPoller {
 public:
  BranchPoller(const std::vector<RepoConfig>& repos, cache::Store& store, Backend& backend, RunSupervisor& supervisor,
               const Clock& clock = system_clock());
  ~BranchPoller() { stop(); }
  BranchPoller(const BranchPoller&) = delete;
  BranchPoller& operator=(const BranchPoller&) = delete;

  // Whether any repository is polled.
  bool active() const { return !due_.empty(); }
  // Polls every branch whose time has come (by the clock's steady time);
  // returns how many runs it queued. A branch that fails (a fetch, an
  // unknown branch) is logged and tried again at its next time.
  int poll_due();
  // poll_due() on a thread, until stop().
  void start();
  void stop();

  // The watch-position key of a repository's branches.
  static std::string position_key(const RepoConfig& repo) { return "serve:" + repo.name; }

 private:
  Result<int> poll(const RepoConfig& repo, const std::string& branch);

  cache::Store& store_;
  Backend& backend_;
  RunSupervisor& supervisor_;
  const Clock& clock_;
  // (repo index, branch) -> when it is polled next.
  std::map<std::pair<std::size_t, std::string>, Clock::Steady> due_;
  std::vector<RepoConfig> repos_;
  std::jthread thread_;
};

}  // namespace gantry::server
