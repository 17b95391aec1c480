// The REST API of `gantry serve` against a live server on 127.0.0.1: runs
// queued through the API run as `gantry run` does (the same record), the
// queue honours --max-runs, cancel/retry, every error status, tokens.
#include <set>

#include "tests/server/serve_fixture.h"

namespace gantry::testing {
namespace {

class ServeApiTest : public ServeFixture {
 protected:
  void pipeline(const std::string& version, const std::string& unit_script = "cat /VERSION") {
    commit({{".gantry.yml",
             "images:\n  app:\n    from: busybox\n    steps:\n      - copy: VERSION /VERSION\n"
             "stages:\n"
             "  unit: {image: app, run: '" + unit_script + "', cache: false}\n"
             "  release: {image: app, environment: production, run: cat /VERSION}\n"
             "environments:\n  - test\n  - staging\n  - {name: production, when: manual}\n"},
            {"VERSION", version + "\n"}},
           "version " + version);
  }
  std::string queue(const nlohmann::json& body = {{"repo", "acme/app"}}) {
    auto r = post("/api/v1/runs", body);
    EXPECT_EQ(r.status, 202) << r.body;
    EXPECT_EQ(r.headers["location"], "/api/v1/runs/" + r.json().value("id", "")) << r.body;
    return r.json().value("id", "");
  }
};

TEST_F(ServeApiTest, PostRun_Is202_RunsLikeGantryRun_RecordIsTheSameJsonAsShow) {
  pipeline("1");
  start_server();
  const std::string id = queue({{"repo", "acme/app"}, {"rev", "main"}});
  ASSERT_FALSE(id.empty());
  auto record = wait_run(id, {"waiting", "passed", "failed"});
  EXPECT_EQ(record.value("status", ""), "waiting") << record.dump(2);
  EXPECT_EQ(record.value("waiting_environment", ""), "production");
  EXPECT_EQ(record.value("id", ""), id);
  EXPECT_EQ(record.value("commit", ""), git({"rev-parse", "HEAD"}));
  // The same record the CLI prints (gantry show --json is gantry run --json's record).
  EXPECT_EQ(record, gantry_json({"show", id, "--json"}));

  auto list = get("/api/v1/runs").json();
  ASSERT_EQ(list["runs"].size(), 1u) << list.dump(2);
  EXPECT_EQ(list["runs"][0].value("id", ""), id);
  EXPECT_EQ(list["runs"][0].value("status", ""), "waiting");
  EXPECT_EQ(list["runs"][0].value("source", ""), "api");
  EXPECT_EQ(list["runs"][0].value("project", ""), record.value("project", "x"));

  auto log = get("/api/v1/runs/" + id + "/stages/unit/log");
  EXPECT_EQ(log.status, 200);
  EXPECT_EQ(log.body, "1\n");
  EXPECT_EQ(log.headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_EQ(stop_server(), 0) << server_log();
}

TEST_F(ServeApiTest, MaxRunsOne_ThreeRequests_RunOneAtATimeInRequestOrder) {
  pipeline("1", "sleep 1; cat /VERSION");
  start_server({"--max-runs", "1"});
  std::vector<std::string> ids = {queue(), queue(), queue()};
  std::vector<std::string> order;  // ids in the order they were first seen started
  int most_at_once = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  while (std::chrono::steady_clock::now() < deadline) {
    auto runs = get("/api/v1/runs?limit=10").json()["runs"];
    int active = 0, ended = 0;
    for (const auto& r : runs) {
      const std::string s = r.value("status", "");
      if (s != "queued" && std::find(order.begin(), order.end(), r.value("id", "")) == order.end())
        order.push_back(r.value("id", ""));
      if (s == "running" || s == "starting") ++active;
      if (s == "waiting" || s == "passed" || s == "failed") ++ended;
    }
    most_at_once = std::max(most_at_once, active);
    if (ended == 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(most_at_once, 1) << server_log();
  EXPECT_EQ(order, ids) << server_log();
  for (const auto& id : ids) EXPECT_EQ(wait_run(id, {"waiting"}).value("status", ""), "waiting");
  // One after the other: each started after the one before had ended (the server's own log).
  const std::string log = server_log();
  for (std::size_t i = 1; i < ids.size(); ++i) {
    auto ended = log.find("run " + ids[i - 1] + ": ended");
    auto started = log.find("run " + ids[i] + ": started");
    ASSERT_NE(ended, std::string::npos) << log;
    ASSERT_NE(started, std::string::npos) << log;
    EXPECT_LT(ended, started) << log;
  }
}

TEST_F(ServeApiTest, Restart_ResumesTheQueuedRun_MarksTheRunItWasExecutingInterrupted) {
  pipeline("1", "sleep 30; cat /VERSION");
  start_server({"--max-runs", "1"});
  const std::string first = queue();
  const std::string second = queue();
  // The first is running its stage; the second waits in the queue.
  auto running = wait_run(first, {"running"});
  for (int i = 0; i < 200; ++i) {
    auto r = get("/api/v1/runs/" + first).json();
    bool stage_running = false;
    for (const auto& s : r["stages"]) stage_running = stage_running || s.value("status", "") == "running";
    if (stage_running) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(get("/api/v1/runs/" + second).json().value("status", ""), "queued");
  kill_server();  // a crash: the run's process dies with the server

  pipeline("2");  // the queued run resolves HEAD when it starts
  start_server({"--max-runs", "1"});
  auto interrupted = wait_run(first, {"interrupted", "passed", "failed", "waiting"});
  EXPECT_EQ(interrupted.value("status", ""), "interrupted") << interrupted.dump(2);
  auto resumed = wait_run(second, {"waiting", "passed", "failed"});
  EXPECT_EQ(resumed.value("status", ""), "waiting") << resumed.dump(2) << server_log();
  EXPECT_NE(server_log().find("1 queued run(s) resume"), std::string::npos) << server_log();
}

TEST_F(ServeApiTest, Sigterm_LetsTheRunFinishWithinGrace_ThenCancelsAndRecordsItInterrupted) {
  pipeline("1", "sleep 60");
  start_server({"--max-runs", "1", "--grace", "1s"});
  const std::string id = queue();
  const std::string queued = queue();
  for (int i = 0; i < 300; ++i) {
    auto r = get("/api/v1/runs/" + id).json();
    bool stage_running = false;
    for (const auto& s : r["stages"]) stage_running = stage_running || s.value("status", "") == "running";
    if (stage_running) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(stop_server(), 0) << server_log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(40));  // not the stage's 60 s
  auto record = gantry_json({"show", id, "--json"});
  EXPECT_EQ(record.value("status", ""), "interrupted") << record.dump(2);
  EXPECT_NE(record.value("error", "").find("SIGTERM"), std::string::npos) << record.dump(2);
  // The queued one stays queued for the next start.
  start_server({"--max-runs", "1"});
  wait_run(queued, {"starting", "running"});
  EXPECT_NE(server_log().find("run " + queued + ": started"), std::string::npos) << server_log();
}

TEST_F(ServeApiTest, CancelQueued_Is200Cancelled_CancelRunning_Is202_RetryQueuesANewRun) {
  pipeline("1", "sleep 60");
  start_server({"--max-runs", "1"});
  const std::string running = queue();
  const std::string queued = queue();
  auto c = post("/api/v1/runs/" + queued + "/cancel", {});
  EXPECT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(c.json().value("status", ""), "cancelled");
  EXPECT_EQ(get("/api/v1/runs/" + queued).json().value("status", ""), "cancelled");
  EXPECT_EQ(post("/api/v1/runs/" + queued + "/cancel", {}).status, 409);  // ended

  wait_run(running, {"running"});
  for (int i = 0; i < 300; ++i) {
    bool stage_running = false;
    for (const auto& s : get("/api/v1/runs/" + running).json()["stages"])
      stage_running = stage_running || s.value("status", "") == "running";
    if (stage_running) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto c2 = post("/api/v1/runs/" + running + "/cancel", {});
  EXPECT_EQ(c2.status, 202) << c2.body;
  EXPECT_EQ(c2.json().value("status", ""), "cancelling");
  auto ended = wait_run(running, {"failed", "interrupted"}, std::chrono::seconds(60));
  const std::string unit_detail = [&] {
    for (const auto& s : ended["stages"])
      if (s.value("name", "") == "unit") return s.value("detail", "");
    return std::string();
  }();
  EXPECT_EQ(unit_detail, "cancelled") << ended.dump(2);

  pipeline("2");  // retry runs the same commit: the old one, which sleeps; cancel it again
  auto retry = post("/api/v1/runs/" + running + "/retry", {});
  EXPECT_EQ(retry.status, 202) << retry.body;
  const std::string retried = retry.json().value("id", "");
  auto again = wait_run(retried, {"running"});
  EXPECT_EQ(again.value("retry_of", ""), running);
  EXPECT_EQ(again.value("commit", ""), ended.value("commit", "x"));
  EXPECT_EQ(post("/api/v1/runs/" + retried + "/retry", {}).status, 409);  // still running
  EXPECT_EQ(post("/api/v1/runs/" + retried + "/cancel", {}).status, 202);
  wait_run(retried, {"failed", "interrupted"}, std::chrono::seconds(60));
}

TEST_F(ServeApiTest, Errors_AreJsonWithTheRightStatus) {
  pipeline("1");
  start_server({"--max-body", "1KiB"});
  auto expect_error = [](const HttpResult& r, long status, const std::string& what) {
    EXPECT_EQ(r.status, status) << what << ": " << r.body;
    EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type") : "", "application/json") << what;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("error") && j.contains("detail")) << what << ": " << r.body;
  };
  expect_error(get("/api/v1/nothing"), 404, "unknown route");
  expect_error(get("/api/v1/runs/20990101-000000-0000"), 404, "unknown run");
  expect_error(get("/api/v1/runs/20990101-000000-0000/stages/unit/log"), 404, "log of unknown run");
  expect_error(http("DELETE", "/api/v1/runs"), 405, "wrong method");
  expect_error(get("/api/v1/runs?limit=0"), 400, "bad limit");
  expect_error(get("/api/v1/runs?limit=x"), 400, "bad limit");
  expect_error(get("/api/v1/history?limit=-1"), 400, "bad history limit");
  // Write routes: no token, a wrong token, a token of another length.
  expect_error(http("POST", "/api/v1/runs", R"({"repo":"acme/app"})"), 401, "no token");
  expect_error(http("POST", "/api/v1/runs", R"({"repo":"acme/app"})", {"Authorization: Bearer nope"}), 401, "bad token");
  expect_error(http("POST", "/api/v1/runs", R"({"repo":"acme/app"})", {"Authorization: Bearer " + token_ + "x"}), 401,
               "longer token");
  expect_error(http("POST", "/api/v1/promote", "{}", {"Authorization: Basic " + token_}), 401, "not bearer");
  // Malformed bodies, unknown repository.
  const std::string auth = "Authorization: Bearer " + token_;
  expect_error(http("POST", "/api/v1/runs", "{not json", {auth}), 400, "malformed JSON");
  expect_error(http("POST", "/api/v1/runs", "[1,2]", {auth}), 400, "not an object");
  expect_error(http("POST", "/api/v1/runs", R"({"repo": 5})", {auth}), 400, "repo not a string");
  expect_error(http("POST", "/api/v1/runs", "{}", {auth}), 400, "neither repo nor project");
  expect_error(post("/api/v1/runs", {{"repo", "acme/other"}}), 404, "unknown repository");
  expect_error(post("/api/v1/promote", {{"image", "app"}}), 400, "promote without to");
  expect_error(post("/api/v1/rollback", {{"env", "x"}}), 400, "rollback without image");
  expect_error(post("/api/v1/runs/20990101-000000-0000/cancel", {}), 404, "cancel unknown run");
  expect_error(post("/api/v1/runs/20990101-000000-0000/retry", {}), 404, "retry unknown run");
  // Bodies past --max-body: 413 before the body is read.
  expect_error(http("POST", "/api/v1/runs", std::string(4096, ' '), {auth}), 413, "big body");
  expect_error(http("POST", "/hooks/github", std::string(4096, ' ')), 413, "big webhook body");
  // Nothing was queued by any of it.
  EXPECT_EQ(get("/api/v1/runs").json()["runs"].size(), 0u);
  // The token is never in the log.
  EXPECT_EQ(server_log().find(token_), std::string::npos);
  EXPECT_EQ(server_log().find("nope"), std::string::npos);
}

TEST_F(ServeApiTest, SlowClient_IsDisconnectedAfterTheClientTimeout) {
  start_server({"--client-timeout", "1s"});
  // Half a request line, then nothing: the server hangs up after ~1 s.
  auto r = run_command({"bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + base_url_.substr(base_url_.rfind(':') + 1) +
                     "; printf 'GET /healthz HT' >&3; start=$(date +%s%N); cat <&3 >/dev/null;"
                     " echo $(( ($(date +%s%N) - start) / 1000000 ))"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const long ms = std::stol(r.out);
  EXPECT_GE(ms, 800) << r.out;
  EXPECT_LT(ms, 5000) << r.out;
  EXPECT_EQ(get("/healthz").status, 200);  // and the server still serves
}

TEST_F(ServeApiTest, ReadRoutes_OffLoopback_NeedTheReadToken) {
  const std::string read_token_file = dir_ / "read-token";
  write_file(read_token_file, "reader-secret\n", 0600);
  // Not loopback without a read token: refused at start.
  auto refused = run_gantry(store_, {"serve", "--listen", "0.0.0.0:0", "--repo", repo_});
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("--read-token-file"), std::string::npos) << refused.err;

  listen_ = "0.0.0.0:0";
  start_server({"--read-token-file", read_token_file});
  EXPECT_EQ(get("/api/v1/runs").status, 401);
  EXPECT_EQ(get("/metrics").status, 401);
  EXPECT_EQ(http("GET", "/api/v1/runs", "", {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(http("GET", "/api/v1/runs", "", {"Authorization: Bearer reader-secret"}).status, 200);
  EXPECT_EQ(http("GET", "/api/v1/runs", "", {"Authorization: Bearer " + token_}).status, 200);
  // The read token cannot write.
  EXPECT_EQ(http("POST", "/api/v1/runs", R"({"repo":"acme/app"})", {"Authorization: Bearer reader-secret"}).status, 401);
  // The dashboard's files hold no data: open.
  EXPECT_EQ(get("/").status, 200);
  EXPECT_EQ(get("/healthz").status, 200);
}

}  // namespace
}  // namespace gantry::testing
