// `interruptible:` against a live `gantry serve --max-runs 2`: a newer
// commit's run of the same branch cancels the older run's interruptible
// test stage (status cancelled, the run ends interrupted) while its
// non-interruptible stage runs to its end; a deploy stage of an older run
// (after its first promotion) is never cancelled.
#include "tests/server/serve_fixture.h"

namespace gantry::testing {
namespace {

using namespace std::chrono_literals;

class ServeInterruptibleTest : public ServeFixture {
 protected:
  // unit sleeps /workspace/unit-s seconds, lint (not interruptible) lint-s, deploy (staging) deploy-s.
  std::string commit_with(int unit_s, int lint_s, int deploy_s, const std::string& message) {
    commit({{".gantry.yml",
             "interruptible: true\n"
             "stages:\n"
             "  unit: {image: busybox, run: 'sleep $(cat /workspace/unit-s); echo unit done'}\n"
             "  lint: {image: busybox, interruptible: false, run: 'sleep $(cat /workspace/lint-s); echo lint done'}\n"
             "  deploy: {image: busybox, environment: staging, needs: [unit, lint],\n"
             "           run: 'sleep $(cat /workspace/deploy-s); echo deployed'}\n"},
            {"unit-s", std::to_string(unit_s) + "\n"},
            {"lint-s", std::to_string(lint_s) + "\n"},
            {"deploy-s", std::to_string(deploy_s) + "\n"}},
           message);
    return git({"rev-parse", "HEAD"});
  }

  std::string push(const std::string& sha) {
    const std::string body =
        nlohmann::json{{"ref", "refs/heads/main"}, {"after", sha}, {"head_commit", {{"id", sha}, {"message", "m"}}},
                       {"repository", {{"full_name", "acme/app"}}}}
            .dump();
    auto r = http("POST", "/hooks/github", body,
                  {"X-GitHub-Event: push", "X-GitHub-Delivery: d-" + sha,
                   "X-Hub-Signature-256: " + github_signature(secret_, body)});
    EXPECT_EQ(r.status, 202) << r.body;
    return r.json().value("id", "");
  }

  nlohmann::json stage_of(const std::string& run, const std::string& name) {
    auto record = get("/api/v1/runs/" + run).json();
    for (const auto& s : record["stages"])
      if (s.value("name", "") == name) return s;
    return nlohmann::json::object();
  }

  void wait_stage(const std::string& run, const std::string& name, const std::string& status) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (stage_of(run, name).value("status", "") == status) return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "stage " << name << " of run " << run << " never was " << status << ": "
           << get("/api/v1/runs/" + run).body << server_log();
  }
};

TEST_F(ServeInterruptibleTest, NewerCommitCancelsTheInterruptibleTestStage_NotTheOthers_NorAnOlderDeploy) {
  start_server({"--max-runs", "2"});
  ASSERT_FALSE(HasFatalFailure());

  // Run 1 reaches its deploy (staging, after promoting into test) and deploys for 6 s.
  const std::string first = push(commit_with(0, 0, 6, "one"));
  wait_stage(first, "deploy", "running");
  ASSERT_FALSE(HasFatalFailure());

  // Run 2 of a newer commit: run 1 is superseded, but its deploy goes on.
  const std::string second = push(commit_with(60, 3, 0, "two"));
  wait_stage(second, "unit", "running");
  ASSERT_FALSE(HasFatalFailure());
  auto one = wait_run(first, {"passed", "failed", "interrupted"});
  EXPECT_EQ(one.value("status", ""), "passed") << one.dump(2);
  EXPECT_EQ(stage_of(first, "deploy").value("status", ""), "passed");

  // Run 3: run 2's interruptible unit (60 s) is cancelled now; its lint (3 s, not interruptible) passes.
  const auto pushed = std::chrono::steady_clock::now();
  const std::string third = push(commit_with(0, 0, 0, "three"));
  auto two = wait_run(second, {"passed", "failed", "interrupted"});
  EXPECT_LT(std::chrono::steady_clock::now() - pushed, 30s);
  EXPECT_EQ(two.value("status", ""), "interrupted") << two.dump(2);
  EXPECT_NE(two.value("error", "").find("a newer run of the branch"), std::string::npos) << two.dump(2);
  auto unit = stage_of(second, "unit");
  EXPECT_EQ(unit.value("status", ""), "cancelled") << two.dump(2);
  EXPECT_NE(unit.value("detail", "").find("newer run"), std::string::npos) << unit.dump();
  EXPECT_EQ(stage_of(second, "lint").value("status", ""), "passed") << two.dump(2);
  EXPECT_EQ(stage_of(second, "deploy").value("status", ""), "skipped") << two.dump(2);
  EXPECT_EQ(get("/api/v1/runs/" + second + "/stages/unit/log").body.find("unit done"), std::string::npos);

  auto three = wait_run(third, {"passed", "failed", "interrupted"});
  EXPECT_EQ(three.value("status", ""), "passed") << three.dump(2);
  EXPECT_NE(server_log().find("run " + second + ": superseded by run " + third), std::string::npos) << server_log();
}

}  // namespace
}  // namespace gantry::testing
