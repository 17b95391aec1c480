// A refused promotion (a promotion event of kind "refused", issue 18) is
// notified as its own event, `promotion_refused`, with its reason: a receiver
// that asked for `promotion` (a deploy hook) never gets it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/notifier.h"
#include "server/outbox.h"
#include "tests/server/http_receiver.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

using namespace std::chrono_literals;

TEST(Notifier, ARefusedPromotion_IsPromotionRefused_NeverAPromotion) {
  ScratchDir dir;
  write_file(dir / "s", "notify-secret\n", 0600);
  HttpReceiver deploys, refusals;
  server::ServeConfig config;
  config.notifications = {{.url = deploys.url() + "/d", .secret_file = dir / "s", .events = {"promotion"}},
                          {.url = refusals.url() + "/r", .secret_file = dir / "s", .events = {"promotion_refused"}}};
  server::Outbox outbox({.timeout = 5s});
  FakeClock clock;
  auto notifier = server::Notifier::make(config, outbox, clock);
  ASSERT_TRUE(notifier.has_value()) << notifier.error().message();
  (*notifier)->on_event("promotion", {{"kind", "refused"},
                                      {"environment", "production"},
                                      {"run", "r1"},
                                      {"reason", "rule require.signed_by failed"}});
  (*notifier)->on_event("promotion", {{"kind", "promote"}, {"environment", "staging"}, {"run", "r1"}});
  ASSERT_TRUE(refusals.wait_for([](const auto& r) { return !r.empty(); }, 10s));
  ASSERT_TRUE(deploys.wait_for([](const auto& r) { return !r.empty(); }, 10s));
  ASSERT_TRUE(outbox.idle_within(5s));
  auto refused = refusals.requests();
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].header("x-gantry-event"), "promotion_refused");
  auto body = nlohmann::json::parse(refused[0].body);
  EXPECT_EQ(body["promotion"]["reason"], "rule require.signed_by failed");
  auto promoted = deploys.requests();
  ASSERT_EQ(promoted.size(), 1u);  // the staging promotion only
  EXPECT_EQ(nlohmann::json::parse(promoted[0].body)["promotion"]["environment"], "staging");
}

}  // namespace
}  // namespace gantry::testing
