// The scheduler (server/schedules.h) under a FakeClock, with a recording
// host in place of the run queue: a slot fires within a second of its time,
// missed slots during downtime run once at start-up, if_running: skip and
// wait, and a clock that jumps fires once, not once per slot.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "server/schedules.h"
#include "tests/support/fake_clock.h"

namespace gantry::testing {
namespace {

using namespace std::chrono_literals;
using server::ScheduleConfig;
using server::Scheduler;

std::int64_t utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  using namespace std::chrono;
  return sys_days{year{y} / month{unsigned(mo)} / day{unsigned(d)}}.time_since_epoch().count() * 86400 + h * 3600 +
         mi * 60 + s;
}

class RecordingHost : public server::ScheduleHost {
 public:
  struct Fired {
    std::string name;
    std::int64_t slot;
    bool catch_up;
    std::chrono::steady_clock::time_point at;
  };
  Result<std::optional<std::int64_t>> last_fired(const ScheduleConfig& s) override {
    std::lock_guard lock(mutex);
    auto it = last.find(s.name);
    return it == last.end() ? std::optional<std::int64_t>() : std::optional<std::int64_t>(it->second);
  }
  Result<bool> active(const ScheduleConfig&) override { return running.load(); }
  Status fire(const ScheduleConfig& s, std::int64_t slot, bool catch_up) override {
    std::lock_guard lock(mutex);
    fired.push_back({s.name, slot, catch_up, std::chrono::steady_clock::now()});
    last[s.name] = slot;
    return {};
  }
  std::vector<Fired> fired_so_far() {
    std::lock_guard lock(mutex);
    return fired;
  }
  std::mutex mutex;
  std::map<std::string, std::int64_t> last;
  std::vector<Fired> fired;
  std::atomic<bool> running{false};
};

ScheduleConfig schedule(const std::string& cron, bool skip = false) {
  return {.name = "s", .repo = "acme/app", .branch = "main", .cron = cron, .skip_if_running = skip};
}

TEST(Scheduler, SlotFiresWithinASecondOfItsTime_UnderAFakeClock) {
  FakeClock clock(utc(2026, 11, 30, 12, 0, 30) * 1000);
  RecordingHost host;
  Scheduler scheduler({schedule("* * * * *")}, host, clock);
  ASSERT_TRUE(scheduler.catch_up().has_value());
  scheduler.start();
  std::this_thread::sleep_for(600ms);
  clock.set(utc(2026, 11, 30, 12, 0, 59) * 1000 + 900);
  std::this_thread::sleep_for(600ms);
  EXPECT_TRUE(host.fired_so_far().empty()) << "fired before its slot";
  const auto slot_time = std::chrono::steady_clock::now();
  clock.set(utc(2026, 11, 30, 12, 1, 0) * 1000);
  const auto deadline = slot_time + 5s;
  while (host.fired_so_far().empty() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  scheduler.stop();
  auto fired = host.fired_so_far();
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].slot, utc(2026, 11, 30, 12, 1));
  EXPECT_FALSE(fired[0].catch_up);
  EXPECT_LT(fired[0].at - slot_time, 1s);
}

TEST(Scheduler, MissedSlotsDuringDowntime_RunOnceAtStartup_NeverFiredStartsFresh) {
  FakeClock clock(utc(2026, 11, 30, 10, 0) * 1000);
  RecordingHost host;
  ScheduleConfig nightly = schedule("0 3 * * *");
  host.last[nightly.name] = utc(2026, 11, 27, 3, 0);  // three nights missed
  Scheduler scheduler({nightly}, host, clock);
  ASSERT_TRUE(scheduler.catch_up().has_value());
  auto fired = host.fired_so_far();
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].slot, utc(2026, 11, 30, 3, 0));
  EXPECT_TRUE(fired[0].catch_up);
  EXPECT_EQ(scheduler.tick(), 0);  // nothing more until tomorrow 03:00
  clock.set(utc(2026, 12, 1, 3, 0) * 1000);
  EXPECT_EQ(scheduler.tick(), 1);

  // A schedule that never fired has nothing to catch up; neither does one that is up to date.
  RecordingHost fresh;
  Scheduler first({nightly}, fresh, clock);
  ASSERT_TRUE(first.catch_up().has_value());
  EXPECT_TRUE(fresh.fired_so_far().empty());
  RecordingHost current;
  current.last[nightly.name] = utc(2026, 12, 1, 3, 0);
  Scheduler up_to_date({nightly}, current, clock);
  ASSERT_TRUE(up_to_date.catch_up().has_value());
  EXPECT_TRUE(current.fired_so_far().empty());
}

TEST(Scheduler, IfRunningSkip_SlotIsDropped_NextSlotFires) {
  FakeClock clock(utc(2026, 11, 30, 12, 0, 30) * 1000);
  RecordingHost host;
  Scheduler scheduler({schedule("*/5 * * * *", true)}, host, clock);
  ASSERT_TRUE(scheduler.catch_up().has_value());
  host.running = true;
  clock.set(utc(2026, 11, 30, 12, 5) * 1000);
  EXPECT_EQ(scheduler.tick(), 0);
  host.running = false;
  clock.set(utc(2026, 11, 30, 12, 6) * 1000);
  EXPECT_EQ(scheduler.tick(), 0);  // the 12:05 slot is gone
  clock.set(utc(2026, 11, 30, 12, 10) * 1000);
  EXPECT_EQ(scheduler.tick(), 1);
  ASSERT_EQ(host.fired_so_far().size(), 1u);
  EXPECT_EQ(host.fired_so_far()[0].slot, utc(2026, 11, 30, 12, 10));
}

TEST(Scheduler, IfRunningWait_SlotRunsWhenThePreviousEnds_LaterSlotsFoldIntoIt) {
  FakeClock clock(utc(2026, 11, 30, 12, 0, 30) * 1000);
  RecordingHost host;
  Scheduler scheduler({schedule("* * * * *")}, host, clock);
  ASSERT_TRUE(scheduler.catch_up().has_value());
  host.running = true;
  for (int minute = 1; minute <= 3; ++minute) {
    clock.set(utc(2026, 11, 30, 12, minute) * 1000);
    EXPECT_EQ(scheduler.tick(), 0);
  }
  host.running = false;
  clock.advance(10s);
  EXPECT_EQ(scheduler.tick(), 1);
  EXPECT_EQ(scheduler.tick(), 0);
  auto fired = host.fired_so_far();
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].slot, utc(2026, 11, 30, 12, 3));
}

TEST(Scheduler, ClockJumpsTenMinutes_OneRunForTheNewestSlot) {
  FakeClock clock(utc(2026, 11, 30, 12, 0, 30) * 1000);
  RecordingHost host;
  Scheduler scheduler({schedule("* * * * *")}, host, clock);
  ASSERT_TRUE(scheduler.catch_up().has_value());
  clock.advance(10min);
  EXPECT_EQ(scheduler.tick(), 1);
  EXPECT_EQ(scheduler.tick(), 0);
  EXPECT_EQ(host.fired_so_far().at(0).slot, utc(2026, 11, 30, 12, 10));
}

}  // namespace
}  // namespace gantry::testing
