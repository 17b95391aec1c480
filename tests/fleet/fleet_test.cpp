// A fleet on one machine (issue 17): a real PostgreSQL started by the test,
// a real docker-registry on loopback, and agents as separate `gantry agent`
// processes, each with its own store. Runs are queued with `gantry --db URL
// run` and followed to their end.
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "pgstore/pg_conn.h"
#include "pgstore/pg_logs.h"
#include "pgstore/pg_queue.h"
#include "runner/log_shipper.h"
#include "tests/registry/local_registry.h"
#include "tests/runner/run_fixture.h"
#include "tests/support/background_process.h"
#include "tests/support/pg_server.h"

namespace gantry::testing {
namespace {

using AgentProcess = BackgroundProcess;  // one `gantry agent`

class FleetTest : public RunFixture {
 protected:
  void SetUp() override {
    RunFixture::SetUp();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: the agents run containers";
    auto& server = shared_pg_server();
    if (!server.skip_reason().empty()) GTEST_SKIP() << server.skip_reason();
    ASSERT_TRUE(server.running()) << server.error();
    static int databases = 0;
    db_name_ = "fleet_" + std::to_string(::getpid()) + "_" + std::to_string(++databases);
    db_ = server.create_database(db_name_);
    registry_ = std::make_unique<LocalRegistry>();
    ASSERT_EQ(registry_->error(), "") << registry_->error();
  }

  std::vector<std::string> env() const { return {"GANTRY_INSECURE_REGISTRIES=" + registry_->host()}; }

  AgentProcess& start_agent(const std::string& name, std::vector<std::string> extra = {}, int lease_seconds = 3) {
    const std::string store = make_store("agent-" + name);
    std::vector<std::string> argv = {gantry_binary(), "--store", store, "agent", "--db", db_, "--registry",
                                     registry_->host() + "/fleet", "--name", name, "--lease",
                                     std::to_string(lease_seconds), "--poll", "100"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    agents_.push_back(std::make_unique<AgentProcess>(argv, env(), std::string(dir_ / ("agent-" + name + ".log"))));
    return *agents_.back();
  }

  std::string agent_logs() const {
    std::string out;
    for (const auto& a : agents_) out += "---- agent log\n" + a->log();
    return out;
  }

  // gantry --db URL run REPO --json, on the submitting host's own store
  // (given up after 3 minutes: a fleet that never ends the run fails the test).
  CommandResult submit(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {"timeout", "180", gantry_binary(), "--store", store_, "--db", db_,
                                     "run",     repo_, "--json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_command(argv, env());
  }
  nlohmann::json submit_json() {
    auto r = submit();
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err << agent_logs();
    auto doc = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_TRUE(doc.is_object()) << r.out << r.err;
    return doc.is_object() ? doc : nlohmann::json::object();
  }
  nlohmann::json db_json(const std::vector<std::string>& args) {
    std::vector<std::string> full = {"--db", db_};
    full.insert(full.end(), args.begin(), args.end());
    auto r = run_gantry(store_, full);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    auto doc = nlohmann::json::parse(r.out, nullptr, false);
    return doc.is_discarded() ? nlohmann::json::object() : doc;
  }
  // The database's view of a job: {state, agent, token, attempts}.
  std::vector<std::string> job_row(const std::string& name) {
    auto r = shared_pg_server().psql(db_name_,
                                     "SELECT state || '|' || agent || '|' || token || '|' || attempts || '|' || id"
                                     " FROM jobs WHERE name = '" + name + "' ORDER BY id DESC LIMIT 1");
    std::vector<std::string> parts;
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    std::size_t start = 0;
    for (std::size_t bar; (bar = out.find('|', start)) != std::string::npos; start = bar + 1)
      parts.push_back(out.substr(start, bar - start));
    parts.push_back(out.substr(start));
    return parts;
  }
  // Waits (up to 60 s) until job `name` is claimed; its row then.
  std::vector<std::string> wait_claimed(const std::string& name) {
    for (int i = 0; i < 600; ++i) {
      auto row = job_row(name);
      if (!row.empty() && row[0] == "claimed") return row;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << name << " was never claimed\n" << agent_logs();
    return {};
  }

  std::string db_name_;
  std::string db_;
  std::unique_ptr<LocalRegistry> registry_;
  std::vector<std::unique_ptr<AgentProcess>> agents_;
};

TEST_F(FleetTest, EightIndependentStages_SpreadOverAgents_ProductionGetsTheDigestEveryAgentTested) {
  std::string stages;
  for (int i = 1; i <= 8; ++i)
    stages += "  unit" + std::to_string(i) + ": {image: app, run: 'cat /app/VERSION; sleep 1'}\n";
  commit({{".gantry.yml", "images:\n"
                          "  app:\n"
                          "    from: busybox\n"
                          "    steps:\n"
                          "      - copy: VERSION /app/VERSION\n"
                          "stages:\n" +
                              stages +
                              "  smoke: {image: app, environment: production, run: 'echo DIGEST=$GANTRY_IMAGE_DIGEST'}\n"
                              "environments: [test, production]\n"},
          {"VERSION", "1.0\n"}});
  start_agent("a");
  start_agent("b");
  start_agent("c");

  auto run = submit_json();
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2) << agent_logs();
  std::set<std::string> agents;
  std::set<std::string> digests;
  for (const auto& stage : run["stages"]) {
    EXPECT_EQ(stage.value("status", ""), "passed") << stage.dump();
    EXPECT_FALSE(stage.value("agent", "").empty()) << stage.dump();
    if (stage.value("environment", "") == "test") agents.insert(stage.value("agent", ""));
    digests.insert(stage.value("digest", ""));
  }
  EXPECT_GE(agents.size(), 2u) << "the 8 stages all ran on one agent: " << run.dump(2);
  // One digest everywhere: built once (one build job), pulled by digest by
  // every other agent, and promoted as it is.
  ASSERT_EQ(digests.size(), 1u) << run.dump(2);
  ASSERT_EQ(run["images"].size(), 1u);
  EXPECT_EQ(run["images"][0].value("digest", ""), *digests.begin());
  auto envs = db_json({"env", "ls", "app", "--json"});
  std::string production;
  for (const auto& e : envs)
    if (e.value("environment", "") == "production") production = e.value("digest", "");
  EXPECT_EQ(production, *digests.begin()) << envs.dump(2);
  int builds = 0;
  for (const auto& job : run["jobs"])
    if (job.value("name", "") == "build") {
      ++builds;
      EXPECT_EQ(job.value("state", ""), "passed");
    }
  EXPECT_EQ(builds, 1);
  // The digest is in the registry, under the name the agents pull it by.
  auto pull = run_command({gantry_binary(), "--store", make_store("verifier"), "image", "pull",
                           registry_->host() + "/fleet/app@" + *digests.begin()},
                          env());
  EXPECT_EQ(pull.exit_code, 0) << pull.out << pull.err;

  // The stage logs were shipped into the database by the agents that ran
  // them: the submitting host, which ran nothing, reads them.
  auto logs = run_gantry(store_, {"--db", db_, "logs", run.value("id", ""), "smoke"});
  EXPECT_EQ(logs.exit_code, 0) << logs.out << logs.err;
  EXPECT_NE(logs.out.find("DIGEST=" + *digests.begin()), std::string::npos) << logs.out << logs.err;

  // gantry agents: three agents, with their last heartbeat.
  auto listed = db_json({"agents", "--json"});
  std::set<std::string> names;
  for (const auto& a : listed["agents"]) names.insert(a.value("name", ""));
  EXPECT_EQ(names, (std::set<std::string>{"a", "b", "c"})) << listed.dump(2);
  // SIGTERM: each agent stops claiming and exits 0.
  for (auto& a : agents_) EXPECT_EQ(a->stop(), 0) << a->log();
}

TEST_F(FleetTest, AnAgentKilledMidStage_TheStageRerunsElsewhereAfterItsLease_TheLateReportIsRefused) {
  commit({{".gantry.yml", "stages:\n"
                          "  slow: {image: busybox, retry: 1, run: 'sleep 4; echo finished'}\n"
                          "  after: {image: busybox, needs: [slow], run: 'echo after'}\n"},
          {"README", "x\n"}});
  auto& first = start_agent("first");
  std::thread submitter;
  CommandResult result;
  submitter = std::thread([&] { result = submit(); });
  auto claimed = wait_claimed("stage:slow");
  ASSERT_EQ(claimed.size(), 5u);
  EXPECT_EQ(claimed[1], "first");
  const std::int64_t old_token = std::stoll(claimed[2]);
  const std::int64_t job_id = std::stoll(claimed[4]);
  first.kill();  // mid-stage: `sleep 4` is running
  start_agent("second");
  submitter.join();
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err << agent_logs();
  auto run = nlohmann::json::parse(result.out);
  EXPECT_EQ(run.value("status", ""), "passed") << run.dump(2);
  for (const auto& stage : run["stages"]) {
    EXPECT_EQ(stage.value("status", ""), "passed") << stage.dump();
    EXPECT_EQ(stage.value("agent", ""), "second") << stage.dump();
  }
  for (const auto& job : run["jobs"])
    if (job.value("name", "") == "stage:slow") {
      EXPECT_EQ(job.value("attempts", 0), 2) << job.dump();
    }

  // The killed agent's report, late (as if it came back): refused, nothing changes.
  auto conn = pgstore::PgConn::connect(db_);
  ASSERT_TRUE(conn) << conn.error().message();
  pgstore::PgQueue queue(**conn);
  pgstore::Claim late{.job_id = job_id, .run_id = run.value("id", ""), .name = "stage:slow", .token = old_token};
  auto refused = queue.finish(late, false, "late failure from a dead agent");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::conflict) << refused.error().message();
  EXPECT_EQ(job_row("stage:slow")[0], "passed");
  EXPECT_EQ(db_json({"show", run.value("id", ""), "--json"}).value("status", ""), "passed");
}

TEST_F(FleetTest, TheDatabaseRestartedDuringARun_AgentsReconnect_TheRunFinishes) {
  commit({{".gantry.yml", "stages:\n"
                          "  long: {image: busybox, run: 'sleep 3; echo done'}\n"
                          "  next: {image: busybox, needs: [long], run: 'echo next'}\n"},
          {"README", "x\n"}});
  start_agent("a", {}, 20);
  CommandResult result;
  std::thread submitter([&] { result = submit(); });
  wait_claimed("stage:long");
  shared_pg_server().stop();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  shared_pg_server().start();
  submitter.join();
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err << agent_logs();
  auto run = nlohmann::json::parse(result.out);
  EXPECT_EQ(run.value("status", ""), "passed") << run.dump(2);
  EXPECT_EQ(run["stages"].size(), 2u);
}

TEST_F(FleetTest, TwoRunsPromotingOneEnvironmentAtOnce_BothRecorded_ThePointerEndsAtTheLaterOne) {
  const std::string pipeline =
      "images:\n"
      "  app:\n"
      "    from: busybox\n"
      "    steps:\n"
      "      - copy: VERSION /app/VERSION\n"
      "stages:\n"
      "  unit: {image: app, run: cat /app/VERSION}\n"
      "environments: [test, production]\n";
  commit({{".gantry.yml", pipeline}, {"VERSION", "1\n"}});
  const std::string first_commit = git({"rev-parse", "HEAD"});
  commit({{".gantry.yml", pipeline}, {"VERSION", "2\n"}});
  start_agent("a", {"--jobs", "2"});
  start_agent("b", {"--jobs", "2"});
  CommandResult one, two;
  std::thread t1([&] { one = submit({"--rev", first_commit}); });
  std::thread t2([&] { two = submit({"--rev", "HEAD"}); });
  t1.join();
  t2.join();
  ASSERT_EQ(one.exit_code, 0) << one.out << one.err << agent_logs();
  ASSERT_EQ(two.exit_code, 0) << two.out << two.err << agent_logs();
  auto history = db_json({"history", "app", "--json"});
  std::vector<nlohmann::json> production;
  for (const auto& e : history["promotions"])
    if (e.value("environment", "") == "production") production.push_back(e);
  ASSERT_EQ(production.size(), 2u) << history.dump(2);
  // Newest first: the pointer is the last event's digest, and that event
  // replaced the other one's digest (no lost update).
  auto envs = db_json({"env", "ls", "app", "--json"});
  std::string pointer;
  for (const auto& e : envs)
    if (e.value("environment", "") == "production") pointer = e.value("digest", "");
  EXPECT_EQ(pointer, production[0].value("digest", "")) << history.dump(2);
  EXPECT_EQ(production[0].value("previous_digest", ""), production[1].value("digest", "")) << history.dump(2);
  EXPECT_NE(production[0].value("digest", ""), production[1].value("digest", ""));
}

TEST_F(FleetTest, AManualGate_StopsTheRun_GantryPromoteQueuesTheGatesStagesForTheAgents) {
  commit({{".gantry.yml", "images:\n"
                          "  app:\n"
                          "    from: busybox\n"
                          "    steps:\n"
                          "      - copy: VERSION /app/VERSION\n"
                          "stages:\n"
                          "  unit: {image: app, run: cat /app/VERSION}\n"
                          "  release: {image: app, environment: production, needs: [unit], run: 'echo released-$(cat /app/VERSION)'}\n"
                          "environments: [test, {name: production, when: manual}]\n"},
          {"VERSION", "7.0\n"}});
  start_agent("a");
  auto run = submit_json();
  ASSERT_EQ(run.value("status", ""), "waiting") << run.dump(2) << agent_logs();
  EXPECT_EQ(run.value("waiting_environment", ""), "production");
  const std::string id = run.value("id", "");
  // From the submitting host, which has no image of the run: the gate's
  // stage and promotion run on an agent.
  auto promoted = run_command({"timeout", "180", gantry_binary(), "--store", store_, "--db", db_, "promote", "app",
                               "--to", "production", "--json"},
                              env());
  ASSERT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err << agent_logs();
  auto record = nlohmann::json::parse(promoted.out, nullptr, false);
  ASSERT_TRUE(record.is_object()) << promoted.out;
  EXPECT_EQ(record.value("status", ""), "passed") << record.dump(2);
  std::string digest;
  for (const auto& stage : record["stages"]) {
    EXPECT_EQ(stage.value("status", ""), "passed") << stage.dump();
    digest = stage.value("digest", "");
  }
  auto envs = db_json({"env", "ls", "app", "--json"});
  std::string production;
  for (const auto& e : envs)
    if (e.value("environment", "") == "production") production = e.value("digest", "");
  EXPECT_EQ(production, digest) << envs.dump(2);
  // On the agent, not on the promoting host.
  EXPECT_EQ(job_row("stage:release").at(1), "a");
  EXPECT_EQ(job_row("promote:production").at(1), "a");
  auto logs = run_gantry(store_, {"--db", db_, "logs", id, "release"});
  EXPECT_NE(logs.out.find("released-7.0"), std::string::npos) << logs.out << logs.err;
}

TEST_F(FleetTest, AnImageBuiltByOneAgent_IsACacheHitForAnother_ItsLayersComeFromTheRegistry) {
  const std::string pipeline =
      "images:\n"
      "  app:\n"
      "    from: busybox\n"
      "    steps:\n"
      "      - run: echo built-once > /made\n"
      "      - copy: VERSION /app/VERSION\n"
      "stages:\n"
      "  unit: {image: app, run: 'cat /made /app/VERSION'}\n";
  commit({{".gantry.yml", pipeline}, {"VERSION", "1\n"}});
  auto& first = start_agent("first");
  auto one = submit_json();
  ASSERT_EQ(one.value("status", ""), "passed") << one.dump(2) << agent_logs();
  ASSERT_EQ(first.stop(), 0);
  // Another agent, another store: the `run` step is not run again.
  start_agent("second");
  commit({{".gantry.yml", pipeline}, {"VERSION", "2\n"}});
  auto two = submit_json();
  ASSERT_EQ(two.value("status", ""), "passed") << two.dump(2) << agent_logs();
  auto show = db_json({"show", two.value("id", ""), "--json"});
  bool saw_run_step = false;
  for (const auto& step : show["build_steps"])
    if (step.value("kind", "") == "run") {
      saw_run_step = true;
      EXPECT_TRUE(step.value("cached", false)) << step.dump() << agent_logs();
    }
  EXPECT_TRUE(saw_run_step) << show.dump(2);
  auto logs = run_gantry(store_, {"--db", db_, "logs", two.value("id", ""), "unit"});
  EXPECT_NE(logs.out.find("built-once"), std::string::npos) << logs.out << logs.err;
  EXPECT_NE(logs.out.find("built-once\n2\n"), std::string::npos) << logs.out;  // the new VERSION, the old step
}

TEST_F(FleetTest, RunsOn_AStageGoesOnlyToAnAgentWithItsLabels) {
  commit({{".gantry.yml", "stages:\n"
                          "  anywhere: {image: busybox, run: 'true'}\n"
                          "  gpu: {image: busybox, runs_on: [gpu], run: 'true'}\n"},
          {"README", "x\n"}});
  start_agent("plain");
  start_agent("big", {"--labels", "gpu,x86"});
  auto run = submit_json();
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2) << agent_logs();
  for (const auto& stage : run["stages"])
    if (stage.value("name", "") == "gpu") {
      EXPECT_EQ(stage.value("agent", ""), "big") << stage.dump();
    }
}

TEST_F(FleetTest, AFailedStage_FailsTheRun_SkipsWhatNeedsIt_AndNamesIt) {
  commit({{".gantry.yml", "stages:\n"
                          "  broken: {image: busybox, run: 'echo broken-output-line; exit 3'}\n"
                          "  after: {image: busybox, needs: [broken], run: 'true'}\n"
                          "  deploy: {image: busybox, environment: production, run: 'true'}\n"
                          "environments: [test, production]\n"},
          {"README", "x\n"}});
  start_agent("a");
  auto r = submit();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto run = nlohmann::json::parse(r.out);
  EXPECT_EQ(run.value("status", ""), "failed");
  EXPECT_NE(run.value("error", "").find("stage:broken"), std::string::npos) << run.dump(2);
  std::map<std::string, std::string> status;
  for (const auto& stage : run["stages"]) status[stage.value("name", "")] = stage.value("status", "");
  EXPECT_EQ(status["broken"], "failed");
  EXPECT_EQ(status["after"], "skipped");
  EXPECT_EQ(status["deploy"], "skipped");
  // Followed without --json: the failing stage's output, as it ran on the agent.
  commit({{"README", "y\n"}});
  auto plain = run_command({"timeout", "180", gantry_binary(), "--store", store_, "--db", db_, "run", repo_}, env());
  EXPECT_EQ(plain.exit_code, 1) << plain.out << plain.err;
  EXPECT_NE(plain.out.find("broken-output-line"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("agent a"), std::string::npos) << plain.out;
  EXPECT_TRUE(db_json({"env", "ls", "--json"}).empty() || db_json({"env", "ls", "--json"}).dump().find("production") ==
                                                              std::string::npos);
}

TEST_F(FleetTest, AShippedLog_StopsAtItsLimit_WithALineSayingWhereTheRestIs) {
  auto conn = pgstore::PgConn::connect(db_);
  ASSERT_TRUE(conn) << conn.error().message();
  // Migrated by any command on the database first.
  ASSERT_EQ(run_gantry(store_, {"--db", db_, "history"}).exit_code, 0);
  pgstore::PgLogs logs(**conn);
  const std::string path = dir_ / "stage.log";
  write_file(path, std::string(3000, 'x'));
  { runner::LogShipper shipper(logs, path, "run-1", "noisy", 1, std::chrono::milliseconds(50), 1000); }
  auto text = logs.log("run-1", "noisy");
  ASSERT_TRUE(text && *text) << (text ? "" : text.error().message());
  EXPECT_EQ((*text)->substr(0, 1000), std::string(1000, 'x'));
  EXPECT_EQ((*text)->find('x', 1000), std::string::npos) << "more than the limit was shipped";
  EXPECT_NE((*text)->find("the record keeps the first 1000 bytes"), std::string::npos) << **text;
}

TEST_F(FleetTest, BadInput_NoDatabase_UnreachableDatabase_NoRegistry) {
  auto none = run_gantry(store_, {"agent", "--registry", "127.0.0.1:1/x"});
  EXPECT_EQ(none.exit_code, 2) << none.out << none.err;
  EXPECT_NE(none.err.find("--db"), std::string::npos) << none.err;
  auto unreachable =
      run_gantry(store_, {"agent", "--db", "postgresql://gantry:secret@/x?host=/nonexistent-dir", "--registry", "r/x"});
  EXPECT_EQ(unreachable.exit_code, 1) << unreachable.out << unreachable.err;
  EXPECT_EQ(unreachable.err.find("secret"), std::string::npos) << "the password was printed: " << unreachable.err;
  auto no_registry = run_gantry(store_, {"agent", "--db", db_});
  EXPECT_EQ(no_registry.exit_code, 2) << no_registry.out << no_registry.err;
  EXPECT_NE(no_registry.err.find("--registry"), std::string::npos) << no_registry.err;
}

}  // namespace
}  // namespace gantry::testing
