// The server's outgoing queue (server/outbox.h) and notifications
// (server/notifier.h) against real receivers on loopback, over real libcurl:
// retries with backoff until a failing receiver accepts, a dead or silent
// receiver never blocks push(), a full queue drops and counts, a newer
// commit status replaces a queued older one, and notification bodies are
// signed with HMAC-SHA256 (checked with OpenSSL here).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/notifier.h"
#include "server/outbox.h"
#include "tests/server/http_receiver.h"
#include "tests/server/serve_fixture.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

using namespace std::chrono_literals;
using server::OutgoingMessage;
using server::Outbox;
using server::OutboxOptions;

OutgoingMessage message(const std::string& url, const std::string& body, const std::string& coalesce = "") {
  return {.kind = "test", .url = url, .headers = {"Content-Type: application/json"}, .body = body, .coalesce = coalesce};
}

TEST(Outbox, ReceiverFailsTwiceThenAccepts_DeliveredOnTheThirdAttempt_WithBackoff) {
  HttpReceiver receiver([](const ReceivedRequest&, int index) { return index < 2 ? 503 : 200; });
  Outbox outbox({.attempts = 5, .backoff = 100ms, .max_backoff = 1s, .timeout = 5s});
  ASSERT_TRUE(outbox.push(message(receiver.url() + "/hook", R"({"n":1})")));
  ASSERT_TRUE(receiver.wait_for([](const auto& r) { return r.size() >= 3; }, 10s));
  ASSERT_TRUE(outbox.idle_within(5s));
  auto got = receiver.requests();
  ASSERT_EQ(got.size(), 3u);
  for (const auto& r : got) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/hook");
    EXPECT_EQ(r.body, R"({"n":1})");
  }
  // Backoff 100 ms, then 200 ms (at least; scheduling only adds).
  EXPECT_GE(got[1].at - got[0].at, 100ms);
  EXPECT_GE(got[2].at - got[1].at, 200ms);
  auto c = outbox.counters();
  EXPECT_EQ(c.sent, 1u);
  EXPECT_EQ(c.retried, 2u);
  EXPECT_EQ(c.failed, 0u);
}

TEST(Outbox, ClientError_IsNotRetried_AttemptsAreBounded) {
  HttpReceiver rejecting([](const ReceivedRequest&, int) { return 400; });
  HttpReceiver failing([](const ReceivedRequest&, int) { return 500; });
  Outbox outbox({.attempts = 3, .backoff = 20ms, .max_backoff = 50ms, .timeout = 5s});
  outbox.push(message(rejecting.url(), "{}"));
  outbox.push(message(failing.url(), "{}"));
  ASSERT_TRUE(failing.wait_for([](const auto& r) { return r.size() >= 3; }, 10s));
  ASSERT_TRUE(outbox.idle_within(5s));
  EXPECT_EQ(rejecting.requests().size(), 1u);
  EXPECT_EQ(failing.requests().size(), 3u);
  EXPECT_EQ(outbox.counters().failed, 2u);
}

TEST(Outbox, DeadAndSilentReceivers_PushReturnsAtOnce_OthersStillDelivered) {
  BlackHole silent;
  HttpReceiver alive;
  Outbox outbox({.attempts = 2, .backoff = 50ms, .max_backoff = 50ms, .timeout = 3s, .workers = 2});
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(outbox.push(message(refusing_url(), "{}")));
    EXPECT_TRUE(outbox.push(message(silent.url(), "{}")));
  }
  const auto pushing = std::chrono::steady_clock::now() - start;
  EXPECT_LT(pushing, 200ms) << "push() must only queue";
  // One worker may hang on the silent receiver; the other delivers.
  outbox.push(message(alive.url(), R"({"alive":true})"));
  EXPECT_TRUE(alive.wait_for([](const auto& r) { return !r.empty(); }, 10s));
}

TEST(Outbox, FullQueue_DropsAreCounted) {
  BlackHole silent;
  Outbox outbox({.capacity = 2, .attempts = 1, .timeout = 2s, .workers = 1});
  int accepted = 0;
  for (int i = 0; i < 6; ++i) accepted += outbox.push(message(silent.url(), "{}")) ? 1 : 0;
  auto c = outbox.counters();
  EXPECT_EQ(c.queued + c.dropped, 6u);
  EXPECT_GE(c.dropped, 3u);  // at most 2 queued + 1 taken by the worker
  EXPECT_EQ(static_cast<std::uint64_t>(accepted), c.queued);
}

TEST(Outbox, SameKey_NewerReplacesQueuedOlder_AndKeyOrderHolds) {
  // The first request of each key hangs for a while: later ones queue up behind it.
  HttpReceiver slow([](const ReceivedRequest& r, int) {
    if (r.body == R"({"state":"pending"})") std::this_thread::sleep_for(300ms);
    return 201;
  });
  Outbox outbox({.attempts = 1, .timeout = 5s, .workers = 2});
  outbox.push(message(slow.url(), R"({"state":"pending"})", "run-1"));
  std::this_thread::sleep_for(100ms);  // in flight now
  outbox.push(message(slow.url(), R"({"state":"running"})", "run-1"));
  outbox.push(message(slow.url(), R"({"state":"success"})", "run-1"));
  ASSERT_TRUE(slow.wait_for([](const auto& r) { return r.size() >= 2; }, 10s));
  ASSERT_TRUE(outbox.idle_within(5s));
  auto got = slow.requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, R"({"state":"pending"})");
  EXPECT_EQ(got[1].body, R"({"state":"success"})");
  EXPECT_EQ(outbox.counters().replaced, 1u);
}

TEST(Notifier, RunFinishedAndStageFailed_SignedWithTheUrlsSecret_FilteredByEvents) {
  ScratchDir dir;
  const std::string secret_a = "notify-secret-a", secret_b = "notify-secret-b";
  write_file(dir / "a", secret_a + "\n", 0600);
  write_file(dir / "b", secret_b + "\n", 0600);
  HttpReceiver all, promotions;
  server::ServeConfig config;
  config.public_url = "https://ci.example.org/";
  config.notifications = {{.url = all.url() + "/all", .secret_file = dir / "a", .events = {}},
                          {.url = promotions.url() + "/p", .secret_file = dir / "b", .events = {"rollback"}}};
  Outbox outbox({.timeout = 5s});
  FakeClock clock;
  auto notifier = server::Notifier::make(config, outbox, clock);
  ASSERT_TRUE(notifier.has_value()) << notifier.error().message();
  (*notifier)->on_event("run", {{"id", "r1"}, {"status", "running"}});  // not finished: nothing
  (*notifier)->on_event("stage", {{"run", "r1"}, {"stage", "unit"}, {"status", "failed"}, {"exit_code", 1}});
  (*notifier)->on_event("run", {{"id", "r1"}, {"status", "failed"}, {"project", "app"}});
  (*notifier)->on_event("run", {{"id", "r1"}, {"status", "failed"}, {"project", "app"}});  // again: once only
  (*notifier)->on_event("promotion", {{"kind", "rollback"}, {"environment", "production"}, {"run", "r0"}});
  ASSERT_TRUE(all.wait_for([](const auto& r) { return r.size() >= 3; }, 10s));
  ASSERT_TRUE(outbox.idle_within(5s));
  auto got = all.requests();
  ASSERT_EQ(got.size(), 3u);
  std::map<std::string, nlohmann::json> by_event;
  for (const auto& r : got) {
    EXPECT_EQ(r.header("x-gantry-signature-256"), github_signature(secret_a, r.body)) << r.body;
    EXPECT_NE(r.header("x-gantry-signature-256"), github_signature(secret_b, r.body));
    EXPECT_EQ(r.header("content-type"), "application/json");
    auto body = nlohmann::json::parse(r.body);
    EXPECT_EQ(r.header("x-gantry-event"), body["event"]);
    EXPECT_EQ(r.header("x-gantry-delivery"), body["delivery"]);
    EXPECT_EQ(body["delivery"].get<std::string>().size(), 32u);
    EXPECT_EQ(body["time"], "2026-01-02T03:04:05Z");
    by_event[body["event"]] = body;
  }
  EXPECT_EQ(by_event["stage_failed"]["stage"]["stage"], "unit");
  EXPECT_EQ(by_event["stage_failed"]["url"], "https://ci.example.org/#/run/r1");
  EXPECT_EQ(by_event["run_finished"]["run"]["status"], "failed");
  EXPECT_EQ(by_event["rollback"]["promotion"]["environment"], "production");
  auto p = promotions.requests();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(p[0].body)["event"], "rollback");
  EXPECT_EQ(p[0].header("x-gantry-signature-256"), github_signature(secret_b, p[0].body));
}

TEST(Notifier, SecretFileReadableByOthers_IsRefused) {
  ScratchDir dir;
  write_file(dir / "open", "s\n", 0644);
  server::ServeConfig config;
  config.notifications = {{.url = "http://127.0.0.1:1/", .secret_file = dir / "open", .events = {}}};
  Outbox outbox({});
  FakeClock clock;
  auto notifier = server::Notifier::make(config, outbox, clock);
  ASSERT_FALSE(notifier.has_value());
  EXPECT_NE(notifier.error().message().find("readable by every user"), std::string::npos) << notifier.error().message();
}

}  // namespace
}  // namespace gantry::testing
