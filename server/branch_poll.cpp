#include "server/branch_poll.h"

#include <spdlog/spdlog.h>

#include "cache/run_queue.h"

namespace gantry::server {

namespace {

std::shared_ptr<spdlog::logger> poll_log() {
  auto log = spdlog::get("serve");
  return log ? log : spdlog::default_logger();
}

std::string shown(const std::string& branch) { return branch.empty() ? "HEAD" : branch; }

}  // namespace

BranchPoller::BranchPoller(const std::vector<RepoConfig>& repos, cache::Store& store, Backend& backend,
                           RunSupervisor& supervisor, const Clock& clock)
    : store_(store), backend_(backend), supervisor_(supervisor), clock_(clock), repos_(repos) {
  const auto now = clock_.steady_now();
  for (std::size_t i = 0; i < repos_.size(); ++i)
    if (repos_[i].poll.count() > 0)
      for (const auto& branch : repos_[i].branches) due_[{i, branch}] = now;  // the first poll at once
}

int BranchPoller::poll_due() {
  int queued = 0;
  for (auto& [what, when] : due_) {
    const auto now = clock_.steady_now();
    if (now < when) continue;
    const RepoConfig& repo = repos_[what.first];
    when = now + repo.poll;
    auto n = poll(repo, what.second);
    if (!n) {
      poll_log()->warn("polling {} {}: {} (again in {} ms)", repo.name, shown(what.second), n.error().message(),
                       repo.poll.count());
      continue;
    }
    queued += *n;
  }
  return queued;
}

Result<int> BranchPoller::poll(const RepoConfig& repo, const std::string& branch) {
  const std::string key = position_key(repo);
  const std::string branch_key = shown(branch);
  cache::Metadata& meta = store_.metadata();
  std::optional<std::string> position;
  {
    std::lock_guard db(store_.db().mutex());  // one user of the connection at a time (serve.cpp)
    position = TRY(meta.watch_position(key, branch_key));
  }
  // Git only, without the database: a fetch may take a while.
  auto news = TRY(backend_.branch_news(repo.location, branch, position));
  std::lock_guard db(store_.db().mutex());
  if (news.start) {
    TRY(meta.set_watch_position(key, branch_key, news.start->id));
    poll_log()->info("polling {} {} every {} ms from {}", repo.name, branch_key, repo.poll.count(),
                     news.start->id.substr(0, 12));
    return 0;
  }
  int queued = 0;
  cache::RunQueue queue(store_);
  for (const auto& commit : news.commits) {
    auto dup = TRY(queue.find_commit(repo.name, commit.id));
    if (dup) {
      poll_log()->info("{} {}: {} already queued or run ({})", repo.name, branch_key, commit.id.substr(0, 12),
                       dup->id);
    } else {
      cache::QueueEntry entry;
      entry.repo_name = repo.name;
      entry.repo = repo.location;
      entry.rev = commit.id;
      entry.commit = commit.id;
      entry.branch = branch.starts_with("refs/heads/") ? branch.substr(11) : branch;
      entry.subject = commit.subject;
      entry.source = "poll";
      TRY(supervisor_.enqueue(entry));
      poll_log()->info("{} {}: new commit {}: run {} queued", repo.name, branch_key, commit.id.substr(0, 12),
                       entry.id);
      ++queued;
    }
    // Past this commit only once it is queued (or found queued).
    TRY(meta.set_watch_position(key, branch_key, commit.id));
  }
  return queued;
}

void BranchPoller::start() {
  if (!active()) return;
  thread_ = std::jthread([this](std::stop_token stop) {
    while (!stop.stop_requested()) {
      poll_due();
      Clock::Steady next = clock_.steady_now() + std::chrono::seconds(1);
      for (const auto& [_, when] : due_) next = std::min(next, when);
      // Sleep in short slices so stop() is prompt.
      while (!stop.stop_requested() && clock_.steady_now() < next)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
}

void BranchPoller::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

}  // namespace gantry::server
