// The fleet's job queue (pgstore/pg_queue.h) against a real PostgreSQL the
// test starts, with real claimer processes: no job claimed twice by racing
// processes, a SIGKILLed claimer's job requeued after its lease as a new
// attempt and its late result refused (fencing token), heartbeats keeping a
// lease, needs making jobs claimable in the transaction of the result they
// waited for, labels (runs_on).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pgstore/pg_metadata.h"
#include "pgstore/pg_queue.h"
#include "tests/support/pg_server.h"

namespace gantry::pgstore {
namespace {

using gantry::testing::shared_pg_server;

class PgQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& server = shared_pg_server();
    GANTRY_REQUIRE_POSTGRES(server);
    static int n = 0;
    url_ = server.create_database("queue_" + std::to_string(::getpid()) + "_" + std::to_string(++n));
    auto meta = PgMetadata::connect(url_);  // migrates
    ASSERT_TRUE(meta) << meta.error().message();
    meta_ = std::move(*meta);
    queue_ = std::make_unique<PgQueue>(meta_->connection());
  }
  // A new connection, as another agent process has.
  std::unique_ptr<PgConn> connect() {
    auto conn = PgConn::connect(url_);
    EXPECT_TRUE(conn) << conn.error().message();
    return conn ? std::move(*conn) : nullptr;
  }
  std::map<std::string, JobState> states(const std::string& run) {
    std::map<std::string, JobState> out;
    auto jobs = queue_->jobs(run);
    EXPECT_TRUE(jobs) << jobs.error().message();
    if (jobs)
      for (auto& j : *jobs) out[j.name] = j;
    return out;
  }
  std::string url_;
  std::unique_ptr<PgMetadata> meta_;
  std::unique_ptr<PgQueue> queue_;
};

TEST_F(PgQueueTest, FourProcessesDrainingTwoHundredJobs_ClaimEachExactlyOnce) {
  std::vector<JobSpec> jobs;
  for (int i = 0; i < 200; ++i) jobs.push_back({.run_id = "r1", .name = "s" + std::to_string(i), .payload = "{}"});
  ASSERT_TRUE(queue_->enqueue(jobs));
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  std::vector<pid_t> pids;
  for (int a = 0; a < 4; ++a) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(out[0]);
      auto conn = PgConn::connect(url_);
      if (!conn) ::_exit(2);
      PgQueue q(**conn);
      const std::string agent = "agent-" + std::to_string(a);
      for (;;) {
        auto c = q.claim(agent, {}, 30000);
        if (!c) ::_exit(3);
        if (!*c) break;
        if (!q.finish(**c, true, agent)) ::_exit(4);
        const std::string line = (*c)->name + "\n";
        if (::write(out[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(5);
      }
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  ::close(out[1]);
  std::string names;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) names.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  std::multiset<std::string> claimed;
  for (std::size_t start = 0, end; (end = names.find('\n', start)) != std::string::npos; start = end + 1)
    claimed.insert(names.substr(start, end - start));
  EXPECT_EQ(claimed.size(), 200u);
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(), 200u);  // none twice
  std::set<std::string> agents;
  for (const auto& [name, j] : states("r1")) {
    EXPECT_EQ(j.state, "passed") << name;
    EXPECT_EQ(j.attempts, 1) << name;
    agents.insert(j.agent);
  }
  EXPECT_GE(agents.size(), 2u);  // spread over several claimers
}

TEST_F(PgQueueTest, AClaimerKilledMidJob_ItsJobIsRequeuedAfterTheLease_AsAnAttempt_AndItsLateResultIsRefused) {
  ASSERT_TRUE(queue_->enqueue({{.run_id = "r1", .name = "slow", .payload = "{}", .max_attempts = 2}}));
  // A real claimer process: claims with a 1 s lease, reports its token, then
  // works "forever" until SIGKILL.
  int tok[2];
  ASSERT_EQ(::pipe(tok), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(tok[0]);
    auto conn = PgConn::connect(url_);
    if (!conn) ::_exit(2);
    PgQueue q(**conn);
    auto c = q.claim("doomed", {}, 1000);
    if (!c || !*c) ::_exit(3);
    const std::string token = std::to_string((*c)->token) + "\n";
    if (::write(tok[1], token.data(), token.size()) < 0) ::_exit(4);
    for (;;) ::pause();
  }
  ::close(tok[1]);
  char buf[64] = {};
  ASSERT_GT(::read(tok[0], buf, sizeof buf - 1), 0);
  ::close(tok[0]);
  const std::int64_t dead_token = std::stoll(buf);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(states("r1")["slow"].state, "claimed");
  EXPECT_EQ(states("r1")["slow"].agent, "doomed");

  auto conn = connect();
  ASSERT_TRUE(conn);
  PgQueue other(*conn);
  auto early = other.claim("survivor", {}, 30000);
  ASSERT_TRUE(early) << early.error().message();
  EXPECT_FALSE(*early);  // the lease still runs: nobody else may take it yet
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  auto again = other.claim("survivor", {}, 30000);
  ASSERT_TRUE(again && *again) << (again ? "no job" : again.error().message());
  EXPECT_EQ((*again)->name, "slow");
  EXPECT_EQ((*again)->attempt, 2);
  EXPECT_NE((*again)->token, dead_token);

  // The dead claimer's result, arriving late (simulated with its token), is refused.
  Claim late = **again;
  late.token = dead_token;
  auto refused = queue_->finish(late, true, "late");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::conflict);
  EXPECT_NE(refused.error().message().find("is no longer current"), std::string::npos) << refused.error().message();
  EXPECT_FALSE(queue_->heartbeat(late, 1000));
  EXPECT_EQ(states("r1")["slow"].state, "claimed");
  ASSERT_TRUE(other.finish(**again, true, "done by survivor"));
  auto done = states("r1")["slow"];
  EXPECT_EQ(done.state, "passed");
  EXPECT_EQ(done.agent, "survivor");
  EXPECT_EQ(done.result, "done by survivor");
}

TEST_F(PgQueueTest, ALeaseThatExpiresOnItsLastAttempt_FailsTheJob_AndSkipsWhatNeedsIt) {
  ASSERT_TRUE(queue_->enqueue({{.run_id = "r1", .name = "build", .payload = "{}", .max_attempts = 1},
                               {.run_id = "r1", .name = "test", .payload = "{}", .needs = {"build"}}}));
  auto c = queue_->claim("a", {}, 100);
  ASSERT_TRUE(c && *c);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(*queue_->expire_leases(), 1);
  auto s = states("r1");
  EXPECT_EQ(s["build"].state, "failed");
  EXPECT_NE(s["build"].result.find("the lease of agent a expired"), std::string::npos) << s["build"].result;
  EXPECT_EQ(s["test"].state, "skipped");
  EXPECT_EQ(s["test"].result, "needs build (failed)");
  EXPECT_FALSE(*queue_->claim("b", {}, 1000));
}

TEST_F(PgQueueTest, AHeartbeatKeepsTheLease) {
  ASSERT_TRUE(queue_->enqueue({{.run_id = "r1", .name = "long", .payload = "{}", .max_attempts = 3}}));
  auto c = queue_->claim("a", {}, 400);
  ASSERT_TRUE(c && *c);
  auto conn = connect();
  PgQueue other(*conn);
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ASSERT_TRUE(queue_->heartbeat(**c, 400));
    EXPECT_FALSE(*other.claim("b", {}, 1000));
  }
  ASSERT_TRUE(queue_->finish(**c, true, "ok"));
  EXPECT_EQ(states("r1")["long"].attempts, 1);
}

TEST_F(PgQueueTest, NeedsMakeAJobClaimableInTheTransactionOfTheResult_AFailureSkipsTransitively) {
  // a -> b, a -> c, (b, c) -> d; x -> y where x fails.
  ASSERT_TRUE(queue_->enqueue({{.run_id = "r1", .name = "a", .payload = "{}"},
                               {.run_id = "r1", .name = "b", .payload = "{}", .needs = {"a"}},
                               {.run_id = "r1", .name = "c", .payload = "{}", .needs = {"a"}},
                               {.run_id = "r1", .name = "d", .payload = "{}", .needs = {"b", "c"}},
                               {.run_id = "r1", .name = "x", .payload = "{}"},
                               {.run_id = "r1", .name = "y", .payload = "{}", .needs = {"x"}},
                               {.run_id = "r1", .name = "z", .payload = "{}", .needs = {"y"}}}));
  auto s = states("r1");
  EXPECT_EQ(s["a"].state, "queued");
  EXPECT_EQ(s["b"].state, "waiting");
  auto a = *queue_->claim("agent", {}, 10000);
  auto x = *queue_->claim("agent", {}, 10000);
  ASSERT_TRUE(a && x);
  EXPECT_EQ(a->name, "a");
  EXPECT_FALSE(*queue_->claim("agent", {}, 10000));  // b, c wait for a
  ASSERT_TRUE(queue_->finish(*x, false, "exit 1"));
  s = states("r1");
  EXPECT_EQ(s["y"].state, "skipped");
  EXPECT_EQ(s["z"].state, "skipped");
  EXPECT_EQ(s["z"].result, "needs y (skipped)");
  ASSERT_TRUE(queue_->finish(*a, true, "ok"));
  auto b = *queue_->claim("agent", {}, 10000);
  auto c = *queue_->claim("agent", {}, 10000);
  ASSERT_TRUE(b && c);
  EXPECT_EQ(b->name + c->name, "bc");
  EXPECT_FALSE(*queue_->claim("agent", {}, 10000));
  // b and c finish at once, from two connections: d is queued exactly when the second commits.
  auto conn = connect();
  PgQueue other(*conn);
  std::thread t([&] { EXPECT_TRUE(other.finish(*c, true, "ok")); });
  EXPECT_TRUE(queue_->finish(*b, true, "ok"));
  t.join();
  EXPECT_EQ(states("r1")["d"].state, "queued");
  EXPECT_FALSE(queue_->enqueue({{.run_id = "r2", .name = "q", .payload = "{}", .needs = {"nope"}}}));
}

TEST_F(PgQueueTest, RunsOn_AJobGoesOnlyToAnAgentWithEveryLabel_AgentsAreListed) {
  ASSERT_TRUE(queue_->enqueue({{.run_id = "r1", .name = "gpu", .payload = "{}", .labels = {"gpu", "linux"}},
                               {.run_id = "r1", .name = "any", .payload = "{}"}}));
  auto plain = *queue_->claim("plain", {"linux"}, 10000);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->name, "any");
  EXPECT_FALSE(*queue_->claim("plain", {"linux"}, 10000));
  auto gpu = *queue_->claim("big", {"linux", "gpu", "x86"}, 10000);
  ASSERT_TRUE(gpu);
  EXPECT_EQ(gpu->name, "gpu");

  ASSERT_TRUE(queue_->agent_heartbeat("big", {"linux", "gpu", "x86"}));
  ASSERT_TRUE(queue_->agent_heartbeat("plain", {"linux"}));
  auto agents = queue_->agents();
  ASSERT_TRUE(agents) << agents.error().message();
  ASSERT_EQ(agents->size(), 2u);
  EXPECT_EQ((*agents)[0].name, "big");
  EXPECT_EQ((*agents)[0].labels, (std::vector<std::string>{"linux", "gpu", "x86"}));
  EXPECT_EQ((*agents)[0].jobs, std::vector<std::string>{"r1/gpu"});
  EXPECT_GT((*agents)[0].heartbeat_ms, 0);
}

}  // namespace
}  // namespace gantry::pgstore
