// Issue 19's outgoing side against a live `gantry serve` and real runs:
//  - notifications: signed JSON POSTs on stage failed and run finished, a
//    receiver that fails twice gets the message on its third attempt, and
//    receivers that refuse or never answer do not delay the run or the API;
//  - commit statuses: a fake forge (a receiver on loopback) gets each
//    forge's status API calls (paths, bodies, token headers) for runs its
//    webhooks started, and never a URL from the webhook's payload.
#include "tests/server/http_receiver.h"
#include "tests/server/serve_fixture.h"

namespace gantry::testing {
namespace {

using namespace std::chrono_literals;

class ServeOutgoingTest : public ServeFixture {
 protected:
  std::string write_config(const std::string& yaml) {
    const std::string path = dir_ / "serve.yml";
    write_file(path, yaml);
    return path;
  }
  std::string secret_file(const std::string& name, const std::string& value) {
    const std::string path = dir_ / name;
    write_file(path, value + "\n", 0600);
    return path;
  }
};

TEST_F(ServeOutgoingTest, Notifications_Signed_RetriedUntilAccepted_DeadReceiversDoNotDelayTheRun) {
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: 'echo testing; exit 3'}\n"}}, "red");
  HttpReceiver ok;
  HttpReceiver flaky([](const ReceivedRequest&, int index) { return index < 2 ? 503 : 200; });
  BlackHole silent;
  const std::string refusing = refusing_url();
  const std::string key = "notify-key-0123", flaky_key = "flaky-key-4567";
  const std::string config = write_config(
      "public_url: https://ci.example.org\n"
      "notifications:\n"
      "  - {url: '" + ok.url() + "/hooks/path-secret-xyz', secret_file: " + secret_file("n1", key) + "}\n"
      "  - {url: '" + flaky.url() + "/f', secret_file: " + secret_file("n2", flaky_key) + ", events: [run_finished]}\n"
      "  - {url: '" + refusing + "/dead', secret_file: " + secret_file("n3", "k3") + "}\n"
      "  - {url: '" + silent.url() + "/silent', secret_file: " + secret_file("n4", "k4") + "}\n"
      "outgoing: {attempts: 4, backoff: 200ms, timeout: 30s}\n");
  start_server({"--config", config});
  ASSERT_FALSE(HasFatalFailure());

  const auto queued_at = std::chrono::steady_clock::now();
  auto queued = post("/api/v1/runs", {{"repo", "acme/app"}, {"rev", "main"}});
  ASSERT_EQ(queued.status, 202) << queued.body;
  const std::string id = queued.json().value("id", "");
  auto run = wait_run(id, {"failed", "passed"}, 60s);
  const auto run_took = std::chrono::steady_clock::now() - queued_at;
  EXPECT_EQ(run.value("status", ""), "failed");
  // The silent receiver holds its message for 30 s; the run did not wait for it.
  EXPECT_LT(run_took, 25s);
  const auto ping = std::chrono::steady_clock::now();
  EXPECT_EQ(get("/healthz").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - ping, 1s);

  ASSERT_TRUE(ok.wait_for([](const auto& r) { return r.size() >= 2; }, 20s)) << server_log();
  std::map<std::string, nlohmann::json> by_event;
  for (const auto& r : ok.requests()) {
    EXPECT_EQ(r.target, "/hooks/path-secret-xyz");
    EXPECT_EQ(r.header("x-gantry-signature-256"), github_signature(key, r.body)) << r.body;
    by_event[r.header("x-gantry-event")] = nlohmann::json::parse(r.body);
  }
  ASSERT_TRUE(by_event.count("stage_failed")) << server_log();
  ASSERT_TRUE(by_event.count("run_finished")) << server_log();
  EXPECT_EQ(by_event["stage_failed"]["stage"]["stage"], "unit");
  EXPECT_EQ(by_event["stage_failed"]["stage"]["exit_code"], 3);
  EXPECT_EQ(by_event["run_finished"]["run"]["id"], id);
  EXPECT_EQ(by_event["run_finished"]["run"]["status"], "failed");
  EXPECT_EQ(by_event["run_finished"]["url"], "https://ci.example.org/#/run/" + id);

  // 503, 503, then accepted: the same message (same delivery id) three times.
  ASSERT_TRUE(flaky.wait_for([](const auto& r) { return r.size() >= 3; }, 20s)) << server_log();
  std::this_thread::sleep_for(500ms);  // no fourth attempt after the 200
  auto attempts = flaky.requests();
  ASSERT_EQ(attempts.size(), 3u);
  for (const auto& r : attempts) {
    EXPECT_EQ(r.body, attempts[0].body);
    EXPECT_EQ(r.header("x-gantry-signature-256"), github_signature(flaky_key, r.body));
    EXPECT_EQ(r.header("x-gantry-event"), "run_finished");
  }
  EXPECT_GE(attempts[1].at - attempts[0].at, 200ms);
  EXPECT_GE(attempts[2].at - attempts[1].at, 400ms);

  auto metrics = get("/metrics").body;
  EXPECT_NE(metrics.find("gantry_outgoing_total{result=\"retried\"}"), std::string::npos) << metrics;
  // Neither secrets nor URL paths (a chat webhook's secret lives there) are logged.
  const std::string log = server_log();
  for (const auto& s : {key, flaky_key, std::string("path-secret-xyz")}) EXPECT_EQ(log.find(s), std::string::npos) << s;
  EXPECT_NE(log.find("delivered on attempt 3"), std::string::npos) << log;
}

TEST_F(ServeOutgoingTest, CommitStatus_GitHubGiteaGitLab_PathsBodiesTokens_PayloadUrlsNeverUsed) {
  commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: 'echo ok'}\n"}}, "first");
  HttpReceiver forge([](const ReceivedRequest&, int) { return 201; });
  HttpReceiver evil;
  // Tokens per project in the store's secrets; the fixture's repository is project "repo".
  for (const auto& [name, value] : {std::pair<std::string, std::string>{"GH_TOKEN", "gh-token-1"},
                                    {"GITEA_TOKEN", "gitea-token-2"}, {"GL_TOKEN", "gl-token-3"}}) {
    auto set = run_shell("printf %s '" + value + "' | " + gantry_binary() + " --store " + store_ + " secret set " +
                         name + " --project repo");
    ASSERT_EQ(set.exit_code, 0) << set.err;
  }
  const std::string config = write_config(
      "public_url: https://ci.example.org/\n"
      "commit_status:\n"
      "  github: {api: '" + forge.url() + "/gh', token_secret: GH_TOKEN}\n"
      "  gitea: {api: '" + forge.url() + "/gitea/api/v1', token_secret: GITEA_TOKEN, context: ci/gantry}\n"
      "  gitlab: {api: '" + forge.url() + "/gitlab/api/v4', token_secret: GL_TOKEN}\n");
  start_server({"--config", config});
  ASSERT_FALSE(HasFatalFailure());

  // A payload whose URLs all point at another server: the status must still go to the configured API.
  auto github_like = [&](const std::string& sha) {
    return nlohmann::json{{"ref", "refs/heads/main"}, {"after", sha}, {"head_commit", {{"id", sha}, {"message", "m"}}},
                          {"repository", {{"full_name", "acme/app"}, {"clone_url", evil.url() + "/acme/app.git"},
                                          {"html_url", evil.url() + "/acme/app"}, {"url", evil.url() + "/api/repos/acme/app"},
                                          {"statuses_url", evil.url() + "/api/statuses/{sha}"}}}}
        .dump();
  };
  struct Case {
    std::string forge, path_prefix, token_header;
  };
  const std::vector<Case> cases = {{"github", "/gh/repos/acme/app/statuses/", "authorization: Bearer gh-token-1"},
                                   {"gitea", "/gitea/api/v1/repos/acme/app/statuses/", "authorization: token gitea-token-2"},
                                   {"gitlab", "/gitlab/api/v4/projects/acme%2Fapp/statuses/", "private-token: gl-token-3"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.forge);
    commit({{"README", c.forge + "\n"}}, "for " + c.forge);
    const std::string sha = git({"rev-parse", "HEAD"});
    HttpResult queued;
    if (c.forge == "gitlab") {
      const std::string body = nlohmann::json{{"object_kind", "push"}, {"ref", "refs/heads/main"}, {"after", sha},
                                              {"checkout_sha", sha},
                                              {"project", {{"path_with_namespace", "acme/app"},
                                                           {"git_http_url", evil.url() + "/acme/app.git"},
                                                           {"web_url", evil.url() + "/acme/app"}}}}
                                   .dump();
      queued = http("POST", "/hooks/gitlab", body,
                    {"X-Gitlab-Event: Push Hook", "X-Gitlab-Event-UUID: u-" + sha, "X-Gitlab-Token: " + secret_});
    } else {
      const std::string body = github_like(sha);
      const std::string prefix = c.forge == "github" ? "X-GitHub" : "X-Gitea";
      queued = http("POST", "/hooks/" + c.forge, body,
                    {prefix + "-Event: push", prefix + "-Delivery: d-" + sha,
                     "X-Hub-Signature-256: " + github_signature(secret_, body)});
    }
    ASSERT_EQ(queued.status, 202) << queued.body;
    const std::string id = queued.json().value("id", "");
    auto run = wait_run(id, {"passed", "failed"});
    EXPECT_EQ(run.value("status", ""), "passed");
    const std::string path = c.path_prefix + sha;
    ASSERT_TRUE(forge.wait_for([&](const auto& all) {
      for (const auto& r : all)
        if (r.target == path && nlohmann::json::parse(r.body).value("state", "") == "success") return true;
      return false;
    }, 20s)) << server_log();
    std::vector<std::string> states;
    for (const auto& r : forge.requests()) {
      if (r.target != path) continue;
      EXPECT_EQ(r.method, "POST");
      auto body = nlohmann::json::parse(r.body);
      const std::string token_name = c.token_header.substr(0, c.token_header.find(':'));
      EXPECT_EQ(token_name + ": " + r.header(token_name), c.token_header);
      EXPECT_EQ(body.value("target_url", ""), "https://ci.example.org/#/run/" + id);
      if (c.forge == "gitlab") EXPECT_EQ(body.value("name", ""), "gantry");
      else EXPECT_EQ(body.value("context", ""), c.forge == "gitea" ? "ci/gantry" : "gantry");
      states.push_back(body.value("state", ""));
    }
    ASSERT_FALSE(states.empty());
    EXPECT_EQ(states.back(), "success");
    // Before it: pending (queued) and, on GitLab, running; never a state after success.
    EXPECT_TRUE(states.front() == "pending" || states.front() == "running") << states.front();
  }
  EXPECT_TRUE(evil.requests().empty()) << evil.requests().front().target;
  const std::string log = server_log();
  for (const auto& t : {"gh-token-1", "gitea-token-2", "gl-token-3"}) EXPECT_EQ(log.find(t), std::string::npos) << t;
}

}  // namespace
}  // namespace gantry::testing
