// Environment turns (cache/environment_turns.h): first come first served, a
// dead run never blocks, `slots` runs at once, cancellation leaves the queue.
#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "cache/environment_turns.h"
#include "cache/run_lock.h"
#include "cache/store.h"
#include "tests/support/test_support.h"

namespace gantry::cache {
namespace {

using namespace std::chrono_literals;

class EnvironmentTurns : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::open(dir_ / "store");
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::move(*s);
  }
  // A live run: its run lock held by this test.
  void live(const std::string& id) {
    auto lock = RunLock::acquire(*store_, id);
    ASSERT_TRUE(lock) << lock.error().message();
    locks_.push_back(std::move(*lock));
  }
  Result<EnvironmentTurn> take(const std::string& id, int slots, std::stop_token stop = {},
                               std::vector<std::string>* ahead = nullptr) {
    return EnvironmentTurn::take(*store_, "acme", "staging", id, slots, stop,
                                 [ahead](const std::vector<std::string>& a) {
                                   if (ahead) *ahead = a;
                                 },
                                 5ms);
  }

  gantry::testing::ScratchDir dir_;
  std::unique_ptr<Store> store_;
  std::vector<RunLock> locks_;
};

TEST_F(EnvironmentTurns, TheSecondRunWaitsForTheFirst_InOrder_ThenGetsItsTurn) {
  live("run-a");
  live("run-b");
  live("run-c");
  auto a = take("run-a", 1);
  ASSERT_TRUE(a) << a.error().message();

  std::vector<std::string> b_ahead;
  std::atomic<bool> b_has_turn = false;
  auto b = std::async(std::launch::async, [&] {
    auto t = take("run-b", 1, {}, &b_ahead);
    b_has_turn = true;
    return t;
  });
  // b is queued before c: c waits behind both.
  while (true) {
    auto q = environment_queue(*store_, "acme", "staging");
    ASSERT_TRUE(q);
    if (q->size() == 2) break;
    std::this_thread::sleep_for(1ms);
  }
  auto c = std::async(std::launch::async, [&] { return take("run-c", 1); });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(b_has_turn) << "run-b got the environment while run-a held it";

  { auto release = std::move(*a); }  // run-a's promotion is done
  auto b_turn = b.get();
  ASSERT_TRUE(b_turn) << b_turn.error().message();
  EXPECT_EQ(b_ahead, std::vector<std::string>{"run-a"});  // what it was told while it waited
  EXPECT_EQ(c.wait_for(50ms), std::future_status::timeout) << "run-c overtook run-b";
  { auto release = std::move(*b_turn); }
  auto c_turn = c.get();
  ASSERT_TRUE(c_turn) << c_turn.error().message();
}

TEST_F(EnvironmentTurns, ADeadRunNeverBlocks_SlotsLetThatManyThrough) {
  // "run-dead" queued and died (its run lock is free).
  {
    auto lock = RunLock::acquire(*store_, "run-dead");
    ASSERT_TRUE(lock);
    auto dead = take("run-dead", 1);
    ASSERT_TRUE(dead);
    EXPECT_EQ(*environment_queue(*store_, "acme", "staging"), std::vector<std::string>{"run-dead"});
    // Never destroyed: like a killed process, it never leaves the queue.
    static_cast<void>(new EnvironmentTurn(std::move(*dead)));
  }  // its run lock is released: the run is dead
  live("run-x");
  live("run-y");
  auto x = take("run-x", 2);
  ASSERT_TRUE(x) << x.error().message();
  auto y = take("run-y", 2);  // two slots: both at once
  ASSERT_TRUE(y) << y.error().message();
  EXPECT_EQ(*environment_queue(*store_, "acme", "staging"), (std::vector<std::string>{"run-x", "run-y"}));
}

TEST_F(EnvironmentTurns, CancelledWhileWaiting_LeavesTheQueue) {
  live("run-a");
  live("run-b");
  auto a = take("run-a", 1);
  ASSERT_TRUE(a);
  std::stop_source stop;
  auto b = std::async(std::launch::async, [&] { return take("run-b", 1, stop.get_token()); });
  std::this_thread::sleep_for(30ms);
  stop.request_stop();
  auto r = b.get();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("cancelled while waiting for staging (run run-a holds it)"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(*environment_queue(*store_, "acme", "staging"), std::vector<std::string>{"run-a"});
}

}  // namespace
}  // namespace gantry::cache
