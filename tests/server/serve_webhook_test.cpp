// Webhooks of GitHub, Gitea and GitLab, in each forge's real payload format,
// against a live `gantry serve`: a valid signature queues a run of the pushed
// commit; a bad one is 401 and queues nothing; an unknown repository 404, a
// malformed body 400; a redelivery (same delivery id, or the same commit)
// queues nothing new.
#include "tests/server/serve_fixture.h"

namespace gantry::testing {
namespace {

class ServeWebhookTest : public ServeFixture {
 protected:
  void SetUp() override {
    ServeFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    commit({{".gantry.yml", "stages:\n  unit: {image: busybox, run: 'echo hello from the hook'}\n"}}, "first");
    start_server();
  }

  // A push as GitHub (and Gitea) send it (abridged to the fields a forge always sends).
  std::string github_push(const std::string& full_name, const std::string& after, const std::string& clone_url = "") {
    nlohmann::json p = {
        {"ref", "refs/heads/main"},
        {"before", "0000000000000000000000000000000000000000"},
        {"after", after},
        {"created", false},
        {"deleted", false},
        {"forced", false},
        {"compare", "https://github.com/" + full_name + "/compare/abc...def"},
        {"commits", {{{"id", after}, {"message", "first\n\nbody"}, {"distinct", true}}}},
        {"head_commit", {{"id", after}, {"message", "first\n\nbody"}, {"timestamp", "2026-11-30T07:00:00Z"}}},
        {"repository",
         {{"id", 1296269},
          {"name", full_name.substr(full_name.find('/') + 1)},
          {"full_name", full_name},
          {"private", false},
          {"html_url", "https://github.com/" + full_name},
          {"clone_url", clone_url.empty() ? "https://github.com/" + full_name + ".git" : clone_url},
          {"ssh_url", "git@github.com:" + full_name + ".git"},
          {"default_branch", "main"}}},
        {"pusher", {{"name", "octocat"}, {"email", "octocat@example.org"}}},
        {"sender", {{"login", "octocat"}, {"id", 1}}}};
    return p.dump();
  }

  std::string gitlab_push(const std::string& path, const std::string& after) {
    nlohmann::json p = {
        {"object_kind", "push"},
        {"event_name", "push"},
        {"before", "0000000000000000000000000000000000000000"},
        {"after", after},
        {"ref", "refs/heads/main"},
        {"checkout_sha", after},
        {"user_username", "jsmith"},
        {"project_id", 15},
        {"project",
         {{"id", 15},
          {"name", path.substr(path.find('/') + 1)},
          {"web_url", "https://gitlab.example.com/" + path},
          {"git_ssh_url", "git@gitlab.example.com:" + path + ".git"},
          {"git_http_url", "https://gitlab.example.com/" + path + ".git"},
          {"path_with_namespace", path},
          {"default_branch", "main"}}},
        {"commits", {{{"id", after}, {"message", "first\n"}, {"title", "first"}}}},
        {"total_commits_count", 1},
        {"repository", {{"name", "app"}, {"url", "git@gitlab.example.com:" + path + ".git"}}}};
    return p.dump();
  }

  HttpResult github(const std::string& body, const std::string& delivery, const std::string& signature) {
    return http("POST", "/hooks/github", body,
                {"Content-Type: application/json", "X-GitHub-Event: push", "X-GitHub-Delivery: " + delivery,
                 "X-Hub-Signature-256: " + signature, "User-Agent: GitHub-Hookshot/abc"});
  }
  HttpResult gitea(const std::string& body, const std::string& delivery, const std::string& signature) {
    // Gitea sends both; the bare-hex X-Gitea-Signature alone must do too.
    return http("POST", "/hooks/gitea", body,
                {"Content-Type: application/json", "X-Gitea-Event: push", "X-Gitea-Delivery: " + delivery,
                 "X-Gitea-Signature: " + signature.substr(7)});
  }
  HttpResult gitlab(const std::string& body, const std::string& uuid, const std::string& token) {
    return http("POST", "/hooks/gitlab", body,
                {"Content-Type: application/json", "X-Gitlab-Event: Push Hook", "X-Gitlab-Event-UUID: " + uuid,
                 "X-Gitlab-Token: " + token});
  }
  std::size_t queued_runs() { return get("/api/v1/runs").json()["runs"].size(); }
};

TEST_F(ServeWebhookTest, GitHub_ValidSignatureQueuesTheCommit_BadSignature401_Redelivery200NothingNew) {
  const std::string head = git({"rev-parse", "HEAD"});
  const std::string body = github_push("acme/app", head);
  auto bad = github(body, "d-1", github_signature("wrong secret", body));
  EXPECT_EQ(bad.status, 401) << bad.body;
  auto missing = http("POST", "/hooks/github", body, {"X-GitHub-Event: push", "X-GitHub-Delivery: d-1"});
  EXPECT_EQ(missing.status, 401) << missing.body;
  EXPECT_EQ(queued_runs(), 0u);

  auto ok = github(body, "d-1", github_signature(secret_, body));
  ASSERT_EQ(ok.status, 202) << ok.body << server_log();
  const std::string id = ok.json().value("id", "");
  auto record = wait_run(id, {"passed", "failed"});
  EXPECT_EQ(record.value("status", ""), "passed") << record.dump(2);
  EXPECT_EQ(record.value("commit", ""), head);
  auto row = get("/api/v1/runs").json()["runs"][0];
  EXPECT_EQ(row.value("branch", ""), "main");
  EXPECT_EQ(row.value("subject", ""), "first");
  EXPECT_EQ(row.value("source", ""), "github");
  EXPECT_EQ(get("/api/v1/runs/" + id + "/stages/unit/log").body, "hello from the hook\n");

  // The same delivery again, and another delivery of the same commit: nothing new.
  auto again = github(body, "d-1", github_signature(secret_, body));
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_TRUE(again.json().value("duplicate", false));
  EXPECT_EQ(again.json().value("id", ""), id);
  auto same_commit = github(body, "d-2", github_signature(secret_, body));
  EXPECT_EQ(same_commit.status, 200) << same_commit.body;
  EXPECT_EQ(queued_runs(), 1u);

  // A signed body that was changed afterwards is refused.
  std::string tampered = body;
  tampered.replace(tampered.find("refs/heads/main"), 15, "refs/heads/evil");
  EXPECT_EQ(github(tampered, "d-3", github_signature(secret_, body)).status, 401);
  EXPECT_EQ(queued_runs(), 1u);
}

TEST_F(ServeWebhookTest, GitHub_Ping200_UnknownRepository404_Malformed400_Deletion200) {
  const std::string ping = R"({"zen":"Keep it logically awesome.","hook_id":1})";
  auto pong = http("POST", "/hooks/github", ping,
                   {"X-GitHub-Event: ping", "X-GitHub-Delivery: p-1", "X-Hub-Signature-256: " + github_signature(secret_, ping)});
  EXPECT_EQ(pong.status, 200) << pong.body;

  const std::string other = github_push("someone/else", git({"rev-parse", "HEAD"}));
  auto unknown = github(other, "u-1", github_signature(secret_, other));
  EXPECT_EQ(unknown.status, 404) << unknown.body;

  const std::string malformed = R"({"ref": "refs/heads/main", "after": )";
  EXPECT_EQ(github(malformed, "m-1", github_signature(secret_, malformed)).status, 400);
  const std::string no_repo = R"({"ref": "refs/heads/main", "after": "abc"})";
  EXPECT_EQ(github(no_repo, "m-2", github_signature(secret_, no_repo)).status, 400);

  const std::string deletion = github_push("acme/app", "0000000000000000000000000000000000000000");
  auto deleted = github(deletion, "x-1", github_signature(secret_, deletion));
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(queued_runs(), 0u);
}

TEST_F(ServeWebhookTest, Gitea_MatchedByCloneUrl_ValidAndInvalidSignature_Redelivery) {
  // Gitea names the repository differently; its clone URL is the configured
  // location (a plain path here; a forge sends URLs: file://PATH matches it).
  const std::string head = git({"rev-parse", "HEAD"});
  const std::string body = github_push("gitea-org/app-renamed", head, "file://" + repo_ + ".git/");
  auto bad = gitea(body, "g-1", github_signature("nope", body));
  EXPECT_EQ(bad.status, 401) << bad.body;
  EXPECT_EQ(queued_runs(), 0u);
  auto ok = gitea(body, "g-1", github_signature(secret_, body));
  ASSERT_EQ(ok.status, 202) << ok.body;
  auto record = wait_run(ok.json().value("id", ""), {"passed", "failed"});
  EXPECT_EQ(record.value("status", ""), "passed") << record.dump(2);
  auto again = gitea(body, "g-1", github_signature(secret_, body));
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(queued_runs(), 1u);
}

TEST_F(ServeWebhookTest, GitLab_TokenHeader_ValidAndInvalid_Redelivery) {
  const std::string head = git({"rev-parse", "HEAD"});
  const std::string body = gitlab_push("acme/app", head);
  EXPECT_EQ(gitlab(body, "l-1", "wrong").status, 401);
  EXPECT_EQ(gitlab(body, "l-1", "").status, 401);
  EXPECT_EQ(queued_runs(), 0u);
  auto ok = gitlab(body, "l-1", secret_);
  ASSERT_EQ(ok.status, 202) << ok.body;
  auto record = wait_run(ok.json().value("id", ""), {"passed", "failed"});
  EXPECT_EQ(record.value("status", ""), "passed") << record.dump(2);
  EXPECT_EQ(record.value("commit", ""), head);
  auto row = get("/api/v1/runs").json()["runs"][0];
  EXPECT_EQ(row.value("source", ""), "gitlab");
  EXPECT_EQ(row.value("subject", ""), "first");
  auto again = gitlab(body, "l-1", secret_);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_TRUE(again.json().value("duplicate", false));
  // A Tag Push Hook or other event queues nothing.
  auto other = http("POST", "/hooks/gitlab", body, {"X-Gitlab-Event: Issue Hook", "X-Gitlab-Token: " + secret_});
  EXPECT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(queued_runs(), 1u);
  // The secret is never in the log.
  EXPECT_EQ(server_log().find(secret_), std::string::npos);
}

}  // namespace
}  // namespace gantry::testing
