#include "runner/run_watch.h"

#include <stdlib.h>

#include <iostream>
#include <thread>

#include "cache/image_store.h"
#include "cache/metadata.h"
#include "cache/store.h"
#include "pipeline/git_repo.h"
#include "runner/cli.h"
#include "runner/store_open.h"
#include "runner/run_session.h"

namespace gantry::runner {

namespace {

// The key the position is saved under: local paths made absolute.
std::string repo_key(const std::string& spec) {
  if (pipeline::is_git_url(spec)) return spec;
  char* real = ::realpath(spec.c_str(), nullptr);
  if (!real) return spec;
  std::string out = real;
  ::free(real);
  return out;
}

// One poll: runs every commit after the saved position. Returns runs started.
Result<int> poll_once(const GlobalOptions& global, const WatchOptions& o, Reporter& reporter, std::stop_token stop,
                      int budget) {
  const std::string key = repo_key(o.run.repo);
  const std::string branch = o.branch.empty() ? "HEAD" : o.branch;
  std::vector<pipeline::Commit> todo;
  {
    // The store is opened per poll: a long watch must not hold the store
    // lock while it sleeps (gc waits for it).
    auto store = TRY(cache::Store::open(global.store_dir));
    TRY(use_database(*store, global));
    auto repo = TRY(pipeline::GitRepo::open(o.run.repo, git_mirror_root(*store)));
    cache::Metadata& meta = store->metadata();
    auto position = TRY(meta.watch_position(key, branch));
    auto news = TRY(watch_news(repo, o.branch, position, o.since));
    if (news.start) {
      TRY(meta.set_watch_position(key, branch, news.start->id));
      reporter.note("watching " + key + " " + branch + " from " + news.start->short_id);
    }
    todo = std::move(news.commits);
  }
  int started = 0;
  for (const auto& commit : todo) {
    if (stop.stop_requested() || (budget > 0 && started >= budget)) break;
    reporter.note("new commit " + commit.short_id + " " + commit.summary);
    auto store = TRY(cache::Store::open(global.store_dir));
    TRY(use_database(*store, global));
    RunOptions run = o.run;
    run.rev = commit.id;
    run.branch = o.branch.empty() ? "HEAD" : o.branch;  // provenance: the branch the commit came from
    auto record = run_pipeline(*store, run, reporter, stop);
    ++started;
    if (!record) {
      reporter.note("run of " + commit.short_id + " could not start: " + record.error().message());
    } else {
      reporter.note("run " + record->id + " of " + commit.short_id + ": " + std::string(to_string(record->status)));
      if (o.json) {
        auto doc = load_run_json(*store, *record);
        if (doc) std::cout << doc->dump() << std::endl;
      }
    }
    // Failed or not, this commit is handled: the next poll starts after it.
    cache::Metadata& meta = store->metadata();
    TRY(meta.set_watch_position(key, o.branch.empty() ? "HEAD" : o.branch, commit.id));
  }
  return started;
}

}  // namespace

Result<WatchNews> watch_news(pipeline::GitRepo& repo, const std::string& branch,
                             const std::optional<std::string>& position, const std::string& since) {
  WatchNews news;
  if (!position) {
    news.start = TRY(since.empty() ? repo.head_of(branch) : repo.resolve(since));
    return news;
  }
  news.commits = TRY(repo.commits_between(branch, *position));
  return news;
}

int watch(const GlobalOptions& global, const WatchOptions& o, Reporter& reporter, std::stop_token stop) {
  int total = 0;
  bool first = true;
  while (!stop.stop_requested()) {
    int budget = o.max_runs > 0 ? o.max_runs - total : 0;
    auto started = poll_once(global, o, reporter, stop, budget);
    if (!started) {
      // The first poll failing means the repository cannot be watched; later
      // failures (a fetch, a busy store) are retried at the next interval.
      if (first) {
        reporter.finish();
        return report_error(started.error());
      }
      reporter.note("watch: " + started.error().message() + " (retrying)");
    } else {
      total += *started;
    }
    first = false;
    if (o.once || (o.max_runs > 0 && total >= o.max_runs)) break;
    auto until = std::chrono::steady_clock::now() + o.interval;
    while (!stop.stop_requested() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  reporter.finish();
  return kExitOk;
}

}  // namespace gantry::runner
