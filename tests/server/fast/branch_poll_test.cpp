// The branch poller of `gantry serve` (server/branch_poll.h) under a
// FakeClock, over a real store (its meta.db queue and watch positions) and
// a run supervisor that is never started, with a scripted backend in place
// of git: each branch is asked once per interval, the first answer sets the
// start without queuing, new commits are queued once (the queue's dedupe,
// also when the position went back), a failing branch is tried again at its
// next time and does not hold up the others.
#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "cache/run_queue.h"
#include "cache/store.h"
#include "server/branch_poll.h"
#include "server/event_hub.h"
#include "server/run_supervisor.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

using namespace std::chrono_literals;

// Answers branch_news from a script per branch and records what it was asked.
class ScriptedBackend : public server::Backend {
 public:
  struct Call {
    std::string branch;
    std::optional<std::string> position;
  };
  std::map<std::string, std::deque<Result<server::BranchNews>>> script;
  std::vector<Call> calls;

  Result<server::BranchNews> branch_news(const std::string&, const std::string& branch,
                                         const std::optional<std::string>& position) override {
    calls.push_back({branch, position});
    auto& answers = script[branch];
    if (answers.empty()) return server::BranchNews{};
    auto next = std::move(answers.front());
    answers.pop_front();
    return next;
  }
  // Not used by the poller.
  Result<nlohmann::json> run_json(const cache::RunRecord&) override { return unused(); }
  Result<nlohmann::json> pipeline_graph(const cache::RunRecord&) override { return unused(); }
  Result<nlohmann::json> environments(const std::string&) override { return unused(); }
  Result<nlohmann::json> history(const std::string&, const std::string&, int) override { return unused(); }
  Result<nlohmann::json> promote(const server::PromoteRequest&, std::stop_token) override { return unused(); }
  Result<nlohmann::json> rollback(const server::RollbackRequest&) override { return unused(); }
  Result<nlohmann::json> run_tests(const std::string&) override { return unused(); }
  Result<nlohmann::json> flaky_tests(const std::string&, int) override { return unused(); }
  Status recover_dead_runs() override { return {}; }
  std::vector<std::string> run_command(const cache::QueueEntry&) override { return {"/bin/false"}; }

 private:
  static Result<nlohmann::json> unused() { return fail(ErrorKind::internal, "not used by the poller"); }
};

server::BranchNews start_at(const std::string& id) { return {.start = server::BranchCommit{id, "tip"}, .commits = {}}; }
server::BranchNews commits(std::vector<std::string> ids) {
  server::BranchNews news;
  for (auto& id : ids) news.commits.push_back({id, "subject of " + id});
  return news;
}
std::string sha(char c) { return std::string(40, c); }

class BranchPollTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = cache::Store::open(dir_ / "store");
    ASSERT_TRUE(opened) << opened.error().message();
    store_ = std::move(*opened);
    store_->set_clock(clock_);
    supervisor_ = std::make_unique<server::RunSupervisor>(*store_, backend_, events_, 1);
  }
  std::vector<cache::QueueEntry> queued() {
    cache::RunQueue queue(*store_);
    auto list = queue.in_state("queued");
    EXPECT_TRUE(list) << list.error().message();
    return list ? *list : std::vector<cache::QueueEntry>{};
  }
  ScratchDir dir_;
  FakeClock clock_;
  std::unique_ptr<cache::Store> store_;
  ScriptedBackend backend_;
  server::EventHub events_;
  std::unique_ptr<server::RunSupervisor> supervisor_;
};

TEST_F(BranchPollTest, EachBranchIsAskedOncePerInterval_NewCommitsQueueOnce_OldestFirst) {
  server::RepoConfig repo{.name = "acme/site", .location = "/srv/git/site.git", .branches = {"main", "release"},
                          .poll = 30s};
  server::BranchPoller poller({repo}, *store_, backend_, *supervisor_, clock_);
  ASSERT_TRUE(poller.active());
  backend_.script["main"].push_back(start_at(sha('a')));
  backend_.script["release"].push_back(start_at(sha('r')));

  // The first poll, at once: both branches start at their tips, nothing queued.
  EXPECT_EQ(poller.poll_due(), 0);
  ASSERT_EQ(backend_.calls.size(), 2u);
  EXPECT_FALSE(backend_.calls[0].position);
  EXPECT_EQ(*store_->metadata().watch_position("serve:acme/site", "main"), sha('a'));
  EXPECT_EQ(*store_->metadata().watch_position("serve:acme/site", "release"), sha('r'));

  // Not due before the interval.
  clock_.advance(29s);
  EXPECT_EQ(poller.poll_due(), 0);
  EXPECT_EQ(backend_.calls.size(), 2u);

  // Due: main has two new commits, queued oldest first, asked from its position.
  backend_.script["main"].push_back(commits({sha('b'), sha('c')}));
  clock_.advance(1s);
  EXPECT_EQ(poller.poll_due(), 2);
  ASSERT_EQ(backend_.calls.size(), 4u);
  EXPECT_EQ(backend_.calls[2].position, sha('a'));
  auto list = queued();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].commit, sha('b'));
  EXPECT_EQ(list[1].commit, sha('c'));
  EXPECT_EQ(list[0].source, "poll");
  EXPECT_EQ(list[0].branch, "main");
  EXPECT_EQ(list[0].repo_name, "acme/site");
  EXPECT_EQ(list[0].repo, "/srv/git/site.git");
  EXPECT_EQ(list[1].subject, "subject of " + sha('c'));
  EXPECT_EQ(*store_->metadata().watch_position("serve:acme/site", "main"), sha('c'));

  // The position went back (a crash between queueing and saving it): the
  // same commits again queue nothing; one new one does.
  backend_.script["main"].push_back(commits({sha('b'), sha('c'), sha('d')}));
  clock_.advance(30s);
  EXPECT_EQ(poller.poll_due(), 1);
  list = queued();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[2].commit, sha('d'));
  EXPECT_EQ(*store_->metadata().watch_position("serve:acme/site", "main"), sha('d'));
}

TEST_F(BranchPollTest, AFailingBranch_IsTriedAgainAtItsNextTime_OthersStillQueue) {
  server::RepoConfig broken{.name = "broken", .location = "/nowhere", .branches = {"gone"}, .poll = 10s};
  server::RepoConfig fine{.name = "fine", .location = "/srv/fine", .branches = {"main"}, .poll = 10s};
  server::BranchPoller poller({broken, fine}, *store_, backend_, *supervisor_, clock_);
  backend_.script["gone"].push_back(fail(ErrorKind::not_found, "unknown branch 'gone'"));
  backend_.script["main"].push_back(start_at(sha('1')));
  EXPECT_EQ(poller.poll_due(), 0);
  EXPECT_FALSE(*store_->metadata().watch_position("serve:broken", "gone"));
  backend_.script["gone"].push_back(start_at(sha('9')));
  backend_.script["main"].push_back(commits({sha('2')}));
  clock_.advance(5s);
  EXPECT_EQ(poller.poll_due(), 0);  // not due yet: neither asked
  EXPECT_EQ(backend_.calls.size(), 2u);
  clock_.advance(5s);
  EXPECT_EQ(poller.poll_due(), 1);
  EXPECT_EQ(*store_->metadata().watch_position("serve:broken", "gone"), sha('9'));
  ASSERT_EQ(queued().size(), 1u);
  EXPECT_EQ(queued()[0].repo_name, "fine");
}

TEST_F(BranchPollTest, ARepositoryWithoutPolling_IsNeverAsked) {
  server::RepoConfig plain{.name = "plain", .location = "/srv/plain"};
  server::BranchPoller poller({plain}, *store_, backend_, *supervisor_, clock_);
  EXPECT_FALSE(poller.active());
  EXPECT_EQ(poller.poll_due(), 0);
  EXPECT_TRUE(backend_.calls.empty());
}

}  // namespace
}  // namespace gantry::testing
