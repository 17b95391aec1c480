#include "runner/serve_backend.h"

#include <unistd.h>

#include <sstream>

#include "pipeline/loader.h"
#include "runner/reporter.h"
#include "runner/run_lifecycle.h"
#include "runner/run_pipeline.h"
#include "runner/run_session.h"
#include "runner/run_views.h"
#include "runner/run_watch.h"
#include "runner/test_views.h"

namespace gantry::runner {

namespace {

std::string self_binary() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("/proc/self/exe");
}

Result<nlohmann::json> printed_json(const std::function<Status(std::ostream&)>& print) {
  std::ostringstream out;
  TRY(print(out));
  try {
    return nlohmann::json::parse(out.str());
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorKind::internal, std::string("printed JSON does not parse: ") + e.what());
  }
}

class RunnerBackend : public server::Backend {
 public:
  RunnerBackend(cache::Store& store, const GlobalOptions& global, RunnerConfig config)
      : store_(store), global_(global), config_(std::move(config)), binary_(self_binary()) {}

  Result<nlohmann::json> run_json(const cache::RunRecord& run) override { return load_run_json(store_, run); }

  Result<nlohmann::json> pipeline_graph(const cache::RunRecord& run) override {
    auto repo = TRY(open_run_repo(store_, run));
    auto commit = TRY(repo.resolve(run.commit));
    auto p = TRY(pipeline::load_pipeline_from_git(repo, commit, run.pipeline_file));
    nlohmann::json envs = nlohmann::json::array(), stages = nlohmann::json::array();
    for (const auto& e : p.environments) envs.push_back({{"name", e.name}, {"manual", e.when == pipeline::Gate::manual}});
    for (const auto& s : p.stages) stages.push_back({{"name", s.name}, {"environment", s.environment}, {"needs", s.needs}});
    return nlohmann::json{{"environments", std::move(envs)}, {"stages", std::move(stages)}};
  }

  Result<nlohmann::json> environments(const std::string& wanted) override {
    const std::string project = TRY(pick_project(store_, wanted, ""));
    auto rows = TRY(printed_json([&](std::ostream& out) { return print_environments(store_, project, "", true, out); }));
    return nlohmann::json{{"project", project}, {"environments", std::move(rows)}};
  }

  Result<nlohmann::json> run_tests(const std::string& run_id) override { return run_tests_json(store_, run_id); }

  Result<nlohmann::json> flaky_tests(const std::string& wanted, int runs) override {
    const std::string project = TRY(pick_project(store_, wanted, ""));
    return flaky_tests_json(store_, project, runs);
  }

  Result<nlohmann::json> history(const std::string& wanted, const std::string& image, int limit) override {
    const std::string project = TRY(pick_project(store_, wanted, image));
    return printed_json([&](std::ostream& out) { return print_history(store_, project, image, limit, true, out); });
  }

  Result<nlohmann::json> promote(const server::PromoteRequest& request, std::stop_token stop) override {
    PromoteOptions options;
    options.project = request.project;
    options.image = request.image;
    options.environment = request.environment;
    options.run_id = request.run_id;
    options.runner_config = config_;
    auto reporter = make_quiet_reporter();
    auto record = TRY(promote_run(store_, options, *reporter, stop));
    reporter->finish();
    return load_run_json(store_, record);
  }

  Result<nlohmann::json> rollback(const server::RollbackRequest& request) override {
    auto reporter = make_quiet_reporter();
    auto event = TRY(rollback_environment(store_, {.project = request.project, .image = request.image,
                                                   .environment = request.environment, .runner_config = config_},
                                          *reporter));
    reporter->finish();
    return cache::promotion_event_json(event);
  }

  Status recover_dead_runs() override { return runner::recover_dead_runs(store_); }

  std::vector<std::string> run_command(const cache::QueueEntry& entry) override {
    std::vector<std::string> argv = {binary_, "--store", global_.store_dir};
    if (!global_.runner_config.empty()) argv.insert(argv.end(), {"--runner-config", global_.runner_config});
    if (entry.kind == "retry") argv.insert(argv.end(), {"retry", entry.retry_of});
    else argv.insert(argv.end(), {"run", entry.repo, "--rev", entry.rev});
    argv.insert(argv.end(), {"--run-id", entry.id, "--json"});
    return argv;
  }

  Result<server::BranchNews> branch_news(const std::string& location, const std::string& branch,
                                         const std::optional<std::string>& position) override {
    auto repo = TRY(pipeline::GitRepo::open(location, git_mirror_root(store_)));
    auto news = TRY(watch_news(repo, branch, position));
    server::BranchNews out;
    if (news.start) out.start = server::BranchCommit{news.start->id, news.start->summary};
    for (const auto& c : news.commits) out.commits.push_back({c.id, c.summary});
    return out;
  }

 private:
  cache::Store& store_;
  const GlobalOptions& global_;
  RunnerConfig config_;
  std::string binary_;
};

}  // namespace

std::unique_ptr<server::Backend> make_serve_backend(cache::Store& store, const GlobalOptions& global,
                                                    RunnerConfig config) {
  return std::make_unique<RunnerBackend>(store, global, std::move(config));
}

}  // namespace gantry::runner
