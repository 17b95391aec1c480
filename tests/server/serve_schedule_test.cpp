// Schedules against a live `gantry serve`: a schedule that last fired an
// hour ago (sixty every-minute slots missed while the server was down) gets
// exactly one catch-up run at start-up, which runs the branch and passes.
// (Slots firing on time are covered under a FakeClock in
// tests/server/fast/schedules_test.cpp: a real every-minute wait is too slow.)
#include "cache/image_store.h"  // before store.h: Store holds a unique_ptr<ImageStore>
#include "cache/metadata_records.h"
#include "cache/run_lock.h"
#include "cache/run_queue.h"
#include "cache/store.h"
#include "tests/server/serve_fixture.h"

namespace gantry::testing {
namespace {

using namespace std::chrono_literals;

class ServeScheduleTest : public ServeFixture {};

TEST_F(ServeScheduleTest, MissedSlotsWhileDown_OneCatchUpRunAtStartup) {
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: 'echo scheduled'}\n"}}, "first");
  // The schedule's last run was an hour ago: what a server that stopped then left in meta.db.
  {
    auto store = cache::Store::open(store_);
    ASSERT_TRUE(store.has_value()) << store.error().message();
    cache::RunQueue queue(**store);
    const std::int64_t hour_ago = (cache::now_ms() / 1000 / 60 - 60) * 60;
    cache::QueueEntry old{.id = cache::new_run_id(cache::now_ms() - 3600 * 1000), .repo_name = "acme/app",
                          .repo = repo_, .rev = "main", .branch = "main", .source = "schedule",
                          .delivery = "every-minute@" + std::to_string(hour_ago)};
    ASSERT_TRUE(queue.enqueue(old).has_value());
    ASSERT_TRUE(queue.cancel_queued(old.id).has_value());
  }
  const std::string config = dir_ / "serve.yml";
  write_file(config, "schedules:\n  - {name: every-minute, repo: acme/app, branch: main, cron: '* * * * *'}\n"
                     "  - {name: yearly, repo: acme/app, branch: main, cron: '0 0 1 1 *', if_running: skip}\n");
  start_server({"--config", config});
  ASSERT_FALSE(HasFatalFailure());

  auto catch_ups = [&] {
    std::vector<nlohmann::json> out;
    const nlohmann::json page = get("/api/v1/runs?limit=100").json();
    for (const auto& r : page["runs"])
      if (r.value("source", "") == "schedule" && r.value("subject", "").find("catch-up") != std::string::npos)
        out.push_back(r);
    return out;
  };
  auto first = catch_ups();
  ASSERT_EQ(first.size(), 1u) << get("/api/v1/runs").body << server_log();
  EXPECT_EQ(first[0].value("branch", ""), "main");
  EXPECT_NE(first[0].value("subject", "").find("schedule every-minute"), std::string::npos);
  auto run = wait_run(first[0].value("id", ""), {"passed", "failed"});
  EXPECT_EQ(run.value("status", ""), "passed") << run.dump(2);
  EXPECT_EQ(run.value("commit", ""), git({"rev-parse", "HEAD"}));
  // The yearly schedule never fired before: nothing to catch up.
  EXPECT_EQ(server_log().find("schedule yearly"), std::string::npos) << server_log();

  // A restart right after catches nothing up again (its slot is remembered in meta.db).
  // Not across a minute's start: that slot would be missed (and caught up) for real.
  while ((cache::now_ms() / 1000) % 60 > 50) std::this_thread::sleep_for(500ms);
  std::this_thread::sleep_for(1500ms);  // past the slot's tick when at :00
  EXPECT_EQ(stop_server(), 0);
  start_server({"--config", config});
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(catch_ups().size(), 1u) << server_log();
}

TEST_F(ServeScheduleTest, ScheduleOfAnUnknownRepository_RefusedAtStart) {
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: 'true'}\n"}}, "first");
  const std::string config = dir_ / "serve.yml";
  write_file(config, "schedules:\n  - {repo: nobody/else, branch: main, cron: '0 3 * * *'}\n");
  auto r = run_gantry(store_, {"serve", "--listen", "127.0.0.1:0", "--repo", "acme/app=" + repo_, "--config", config});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("repo 'nobody/else' is not a configured repository"), std::string::npos) << r.err;
  write_file(config, "schedules:\n  - {repo: acme/app, branch: main, cron: '61 3 * * *'}\n");
  r = run_gantry(store_, {"serve", "--listen", "127.0.0.1:0", "--repo", "acme/app=" + repo_, "--config", config});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("serve.yml:2:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("minute field '61'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gantry::testing
