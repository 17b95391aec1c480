// Event streams and the environment routes of a live `gantry serve`: a
// followed log receives a stage's lines while it prints them; /events
// carries run, stage and promotion changes; promote (and its 409 refusal),
// rollback, environments, history, metrics.
#include "tests/server/serve_fixture.h"

namespace gantry::testing {
namespace {

class ServeStreamTest : public ServeFixture {
 protected:
  void pipeline(const std::string& version, const std::string& unit_script = "cat /VERSION") {
    commit({{".gantry.yml",
             "images:\n  app:\n    from: busybox\n    steps:\n      - copy: VERSION /VERSION\n"
             "stages:\n"
             "  unit: {image: app, run: '" + unit_script + "', cache: false}\n"
             "  smoke: {image: app, environment: staging, run: echo staged}\n"
             "  release: {image: app, environment: production, run: cat /VERSION}\n"
             "environments:\n  - test\n  - {name: staging, when: manual}\n  - {name: production, when: manual}\n"},
            {"VERSION", version + "\n"}},
           "version " + version);
  }
  std::string queue() {
    auto r = post("/api/v1/runs", {{"repo", "acme/app"}});
    EXPECT_EQ(r.status, 202) << r.body;
    return r.json().value("id", "");
  }
  static std::string digest(const nlohmann::json& run) {
    return run["images"].empty() ? "" : run["images"][0].value("digest", "");
  }
};

TEST_F(ServeStreamTest, FollowLog_ReceivesLinesWhileTheStagePrintsThem_ThenEnds) {
  pipeline("1", "for i in 1 2 3 4 5 6; do echo line $i; sleep 0.5; done");
  start_server();
  const std::string id = queue();
  // Follow as soon as the stage is known (pending is fine: the stream waits).
  for (int i = 0; i < 600; ++i) {
    if (get("/api/v1/runs/" + id + "/stages/unit/log").status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  SseReader follow(url("/api/v1/runs/" + id + "/stages/unit/log?follow=1"));
  ASSERT_TRUE(follow.wait_for([](const std::vector<SseEvent>& e) { return !e.empty() && e.back().type == "end"; },
                              std::chrono::seconds(120)))
      << server_log();
  auto events = follow.events();
  std::vector<SseEvent> lines;
  for (const auto& e : events)
    if (e.type.empty()) lines.push_back(e);
  ASSERT_EQ(lines.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(lines[i].data, "line " + std::to_string(i + 1));
  // They came as printed, not all at the end: 5 gaps of 0.5 s between first and last.
  const auto spread = lines.back().at - lines.front().at;
  EXPECT_GE(spread, std::chrono::milliseconds(1800)) << "lines arrived within "
                                                     << std::chrono::duration_cast<std::chrono::milliseconds>(spread).count()
                                                     << " ms";
  auto end = nlohmann::json::parse(events.back().data);
  EXPECT_EQ(end.value("status", ""), "passed");
  EXPECT_TRUE(follow.wait_for([](const auto&) { return false; }, std::chrono::milliseconds(300)) || true);
  // The finished stage's follow sends everything and ends at once.
  SseReader again(url("/api/v1/runs/" + id + "/stages/unit/log?follow=1"));
  ASSERT_TRUE(again.wait_for([](const std::vector<SseEvent>& e) { return !e.empty() && e.back().type == "end"; },
                             std::chrono::seconds(10)));
  EXPECT_EQ(again.events().size(), 7u);
}

TEST_F(ServeStreamTest, Events_RunStageAndPromotion_PromoteAndItsRefusal_Rollback) {
  pipeline("1", "sleep 1; cat /VERSION");  // long enough to be seen running
  start_server();
  SseReader events(url("/api/v1/events"));
  ASSERT_TRUE(events.wait_connected());
  const std::string first = queue();
  auto r1 = wait_run(first, {"waiting", "failed"});
  ASSERT_EQ(r1.value("status", ""), "waiting") << r1.dump(2);
  EXPECT_EQ(r1.value("waiting_environment", ""), "staging");
  auto has = [&](const std::string& type, const std::string& key, const std::string& value,
                 const std::string& key2 = {}, const std::string& value2 = {}) {
    return events.wait_for(
        [&](const std::vector<SseEvent>& all) {
          for (const auto& e : all) {
            if (e.type != type) continue;
            auto j = nlohmann::json::parse(e.data, nullptr, false);
            if (j.is_object() && j.value(key, "") == value && (key2.empty() || j.value(key2, "") == value2)) return true;
          }
          return false;
        },
        std::chrono::seconds(20));
  };
  EXPECT_TRUE(has("run", "id", first, "status", "queued"));
  EXPECT_TRUE(has("run", "id", first, "status", "running"));
  EXPECT_TRUE(has("stage", "run", first, "status", "running"));
  EXPECT_TRUE(has("stage", "stage", "unit", "status", "passed"));
  EXPECT_TRUE(has("run", "id", first, "status", "waiting"));

  // Promote straight to production: the digest skipped staging: 409, nothing moves.
  auto refused = post("/api/v1/promote", {{"image", "app"}, {"to", "production"}, {"run", first}});
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_FALSE(refused.json().value("detail", "").empty());
  // The refusal is in the history, with its reason, and on /events.
  EXPECT_TRUE(has("promotion", "kind", "refused", "environment", "production"));
  {
    auto h = get("/api/v1/history?image=app").json();
    ASSERT_FALSE(h["promotions"].empty()) << h.dump(2);
    const auto& e = h["promotions"][0];
    EXPECT_EQ(e.value("kind", ""), "refused") << h.dump(2);
    EXPECT_EQ(e.value("digest", ""), digest(r1));
    EXPECT_EQ(e.value("run", ""), first);
    EXPECT_NE(e.value("reason", "").find("has not passed staging"), std::string::npos) << h.dump(2);
  }
  // Without the token: 401.
  EXPECT_EQ(http("POST", "/api/v1/promote", R"({"image":"app","to":"staging"})").status, 401);
  auto promoted = post("/api/v1/promote", {{"image", "app"}, {"to", "staging"}, {"run", first}});
  ASSERT_EQ(promoted.status, 200) << promoted.body;
  EXPECT_EQ(promoted.json().value("status", ""), "waiting");
  EXPECT_EQ(promoted.json().value("waiting_environment", ""), "production");
  EXPECT_TRUE(has("promotion", "environment", "staging", "digest", digest(r1)));
  EXPECT_TRUE(has("stage", "stage", "smoke", "status", "passed"));

  auto envs = get("/api/v1/environments").json();
  std::map<std::string, std::string> where;
  for (const auto& e : envs["environments"]) where[e.value("environment", "")] = e.value("digest", "");
  EXPECT_EQ(where["staging"], digest(r1)) << envs.dump(2);
  EXPECT_EQ(where["test"], digest(r1));

  // A second version through staging, then roll staging back to the first.
  pipeline("2", "sleep 1; cat /VERSION");
  const std::string second = queue();
  auto r2 = wait_run(second, {"waiting", "failed"});
  ASSERT_NE(digest(r2), digest(r1));
  ASSERT_EQ(post("/api/v1/promote", {{"image", "app"}, {"to", "staging"}, {"run", second}}).status, 200);
  auto rolled = post("/api/v1/rollback", {{"image", "app"}, {"env", "staging"}});
  ASSERT_EQ(rolled.status, 200) << rolled.body;
  EXPECT_EQ(rolled.json().value("digest", ""), digest(r1));
  EXPECT_TRUE(has("promotion", "kind", "rollback", "digest", digest(r1)));
  auto history = get("/api/v1/history?image=app").json();
  EXPECT_EQ(history["runs"].size(), 2u) << history.dump(2);
  EXPECT_GE(history["promotions"].size(), 5u) << history.dump(2);  // with the refusal
  // Unknown project: 404; unknown image to roll back: 404.
  EXPECT_EQ(get("/api/v1/environments?project=nope").status, 404);
  EXPECT_EQ(post("/api/v1/rollback", {{"image", "nope"}, {"env", "staging"}}).status, 404);

  auto metrics = get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("gantry_runs{status=\"waiting\"} 2"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("gantry_queue_depth 0"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("gantry_event_followers 1"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("gantry_step_runs_total 2"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("gantry_stage_seconds_count{status=\"passed\"}"), std::string::npos) << metrics.body;
  // Event ids count up; a follower that reconnects with Last-Event-ID gets what it missed.
  auto all = events.events();
  ASSERT_FALSE(all.empty());
  const std::string mid = all[all.size() / 2].id;
  SseReader resumed(url("/api/v1/events?last_event_id=" + mid));
  EXPECT_TRUE(resumed.wait_for([&](const std::vector<SseEvent>& e) { return e.size() >= all.size() - all.size() / 2 - 1; },
                               std::chrono::seconds(5)));
  EXPECT_EQ(resumed.events().front().id, std::to_string(std::stoll(mid) + 1));
}

}  // namespace
}  // namespace gantry::testing
