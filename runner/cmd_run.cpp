// gantry run | retry | promote | rollback | env ls | history | logs | show | watch
#include <cctype>
#include <iostream>
#include <memory>

#include "cache/image_store.h"
#include "cache/store.h"
#include "common/units.h"
#include "runner/cli.h"
#include "runner/fleet_submit.h"
#include "runner/run_lifecycle.h"
#include "runner/run_pipeline.h"
#include "runner/run_session.h"
#include "runner/run_signals.h"
#include "runner/run_views.h"
#include "runner/run_watch.h"
#include "runner/test_views.h"
#include "runner/store_open.h"

namespace gantry::runner {

namespace {

struct RunFlags {
  RunOptions run;
  bool json = false;
  bool local = false;  // --local: with --db, run here (the record still goes to the database)
};

int finish_run(cache::Store& store, Result<cache::RunRecord> record, Reporter& reporter, bool json) {
  reporter.finish();
  if (!record) return report_error(record.error());
  if (json) {
    auto doc = load_run_json(store, *record);
    if (!doc) return report_error(doc.error());
    std::cout << doc->dump(2) << std::endl;
  } else {
    std::cout << "run " << record->id << " " << record->status
              << (record->waiting_environment.empty() ? "" : " at the manual gate of " + record->waiting_environment)
              << "\n";
    // Where the run's image now is (every image when the run has several).
    const std::string only = record->images.size() == 1 ? record->images.front().image : "";
    (void)print_environments(store, record->project, only, false, std::cout);
  }
  return run_exit_code(*record);
}

// run, retry and promote: the runner config into `config`, the store, a
// reporter, then `body(store, reporter, stop)`; prints the record it returns.
template <typename Body>
int with_run(const GlobalOptions& global, RunnerConfig& config, bool json, Body&& body) {
  auto loaded = load_runner_config(global.runner_config);
  if (!loaded) return report_error(loaded.error());
  config = std::move(*loaded);
  auto store = open_store(global, config);
  if (!store) return report_error(store.error());
  InterruptGuard interrupt;
  auto reporter = make_reporter(json);
  auto record = body(**store, *reporter, interrupt.token());
  return finish_run(**store, std::move(record), *reporter, json);
}

// With --db (and without --local): the run goes to the fleet's agents.
int cmd_fleet_run(const GlobalOptions& global, RunFlags& f) {
  auto loaded = load_runner_config(global.runner_config);
  if (!loaded) return report_error(loaded.error());
  f.run.runner_config = std::move(*loaded);
  auto store = open_store(global, f.run.runner_config);
  if (!store) return report_error(store.error());
  InterruptGuard interrupt;
  auto reporter = make_reporter(f.json);
  auto fleet = submit_fleet_run(**store, global.db_url, f.run, *reporter, interrupt.token());
  reporter->finish();
  if (!fleet) return report_error(fleet.error());
  if (f.json) {
    auto doc = load_run_json(**store, fleet->record);
    if (!doc) return report_error(doc.error());
    std::cout << fleet_run_json(std::move(*doc), fleet->jobs).dump(2) << std::endl;
  } else {
    std::cout << "run " << fleet->record.id << " " << fleet->record.status
              << (fleet->record.waiting_environment.empty()
                      ? ""
                      : " at the manual gate of " + fleet->record.waiting_environment)
              << "\n";
    const std::string only = fleet->record.images.size() == 1 ? fleet->record.images.front().image : "";
    (void)print_environments(**store, fleet->record.project, only, false, std::cout);
  }
  return fleet->detached ? kExitFailure : run_exit_code(fleet->record);
}

int cmd_run(const GlobalOptions& global, RunFlags f) {
  if (!global.db_url.empty() && !f.local) return cmd_fleet_run(global, f);
  return with_run(global, f.run.runner_config, f.json, [&](cache::Store& store, Reporter& reporter, std::stop_token stop) {
    return run_pipeline(store, f.run, reporter, stop);
  });
}

struct RetryFlags {
  std::string run_id;
  RunOptions run;
  bool json = false;
};

int cmd_retry(const GlobalOptions& global, RetryFlags f) {
  return with_run(global, f.run.runner_config, f.json, [&](cache::Store& store, Reporter& reporter, std::stop_token stop) {
    return retry_run(store, f.run_id, f.run, reporter, stop);
  });
}

struct PromoteFlags {
  PromoteOptions promote;
  bool json = false;
  bool local = false;  // --local: with --db, run the environment's stages here
};

int cmd_promote(const GlobalOptions& global, PromoteFlags f) {
  if (!global.db_url.empty() && !f.local) f.promote.fleet_db = global.db_url;
  return with_run(global, f.promote.runner_config, f.json,
                  [&](cache::Store& store, Reporter& reporter, std::stop_token stop) {
                    return promote_run(store, f.promote, reporter, stop);
                  });
}

struct QueryFlags {
  std::string project;
  std::string image;
  std::string env;
  std::string run;
  std::string stage;
  std::string service;
  int limit = 20;
  bool json = false;
  bool flaky = false;
};

int cmd_rollback(const GlobalOptions& global, const QueryFlags& f) {
  auto store = open_store(global);
  if (!store) return report_error(store.error());
  auto config = load_runner_config(global.runner_config);
  if (!config) return report_error(config.error());
  auto reporter = make_reporter(f.json);
  auto event = rollback_environment(**store, {.project = f.project, .image = f.image, .environment = f.env,
                                              .runner_config = std::move(*config)}, *reporter);
  reporter->finish();
  if (!event) return report_error(event.error());
  if (f.json) {
    std::cout << cache::promotion_event_json(*event).dump(2) << "\n";
  } else {
    std::cout << "rolled back " << event->image << " in " << event->environment << " to " << event->digest
              << " (commit " << event->commit.substr(0, 12) << ", run " << event->run_id << "); was "
              << event->replaced_digest << "\n";
  }
  return kExitOk;
}

// For the commands that read runs: dead runs are marked interrupted first.
template <typename F>
int with_store(const GlobalOptions& global, F&& body) {
  auto store = open_store(global);
  if (!store) return report_error(store.error());
  if (auto st = recover_dead_runs(**store); !st) return report_error(st.error());
  auto st = body(**store);
  if (!st) return report_error(st.error());
  return kExitOk;
}

struct WatchFlags {
  WatchOptions watch;
  std::string interval = "5s";
};

int cmd_watch(const GlobalOptions& global, WatchFlags f) {
  auto interval = parse_duration(f.interval);
  if (!interval) return report_error(Error(ErrorKind::usage, "--interval: " + interval.error().message()));
  f.watch.interval = *interval;
  auto config = load_runner_config(global.runner_config);
  if (!config) return report_error(config.error());
  f.watch.run.runner_config = std::move(*config);
  InterruptGuard interrupt;
  auto reporter = make_reporter(f.watch.json);
  return watch(global, f.watch, *reporter, interrupt.token());
}

void add_run_options(CLI::App* cmd, RunOptions& run) {
  cmd->add_option("--file,-f", run.file, "Pipeline file in the commit's tree (default .gantry.yml)");
  cmd->add_option("--jobs,-j", run.jobs, "Stages (and images) run at once (default: the number of cores)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-cache", run.no_cache, "Rerun every build step and stage (results are still recorded)");
  add_signing_key_option(cmd, run.signing_key);
}

// Hidden: `gantry serve` runs a queued run under the id it answered with.
void add_run_id_option(CLI::App* cmd, RunOptions& run) {
  cmd->add_option("--run-id", run.run_id, "")
      ->group("")
      ->check([](const std::string& id) -> std::string {
        bool ok = id.size() == 20 && id[8] == '-' && id[15] == '-';
        for (std::size_t i = 0; ok && i < id.size(); ++i)
          ok = i == 8 || i == 15 ? true : std::isxdigit(static_cast<unsigned char>(id[i])) != 0;
        return ok ? "" : "a run id: yyyymmdd-hhmmss-xxxx";
      });
}

}  // namespace

void add_run_commands(Cli& cli) {
  auto& global = cli.global;
  auto& action = cli.action;

  auto run = std::make_shared<RunFlags>();
  auto* cmd = cli.app.add_subcommand(
      "run", "Build the images of a commit, run every stage in a fresh container and promote the same\n"
             "digest through the environments up to the first manual gate (docs/run.md).\n"
             "Exit 0 when every required stage passed (also when waiting at a manual gate).");
  cmd->add_option("repo", run->run.repo, "Git repository: a local path or a URL (default: .)");
  cmd->add_option("--rev", run->run.rev, "Revision (anything git rev-parse takes; default HEAD)");
  add_run_options(cmd, run->run);
  add_run_id_option(cmd, run->run);
  cmd->add_flag("--json", run->json, "Print the run record as JSON (docs/run.md) instead of a live view");
  cmd->add_flag("--local", run->local,
                "With --db: run here instead of queueing the run for the fleet's agents (the record still goes "
                "to the database)");
  cmd->callback([&global, &action, run] { action = [&global, run] { return cmd_run(global, *run); }; });

  auto retry = std::make_shared<RetryFlags>();
  cmd = cli.app.add_subcommand(
      "retry", "Run RUN's commit and pipeline again as a new run (recording retry_of): stages that passed\n"
               "are served from the stage cache, failed, interrupted and skipped ones run again.\n"
               "Refuses a run that is still running. Exit codes as for run.");
  cmd->add_option("run", retry->run_id, "Run id (or a unique prefix)")->required();
  cmd->add_option("--jobs,-j", retry->run.jobs, "Stages (and images) run at once (default: the number of cores)")
      ->check(CLI::PositiveNumber);
  add_run_id_option(cmd, retry->run);
  cmd->add_flag("--json", retry->json, "Print the new run record as JSON (docs/run.md) instead of a live view");
  add_signing_key_option(cmd, retry->run.signing_key);
  cmd->callback([&global, &action, retry] { action = [&global, retry] { return cmd_retry(global, *retry); }; });

  auto promote = std::make_shared<PromoteFlags>();
  cmd = cli.app.add_subcommand(
      "promote", "Carry a run through a manual gate: run ENV's stages on the digest the run built (never\n"
                 "rebuilding), then promote it. Refuses a digest that has not passed every earlier environment.");
  cmd->add_option("image", promote->promote.image, "Image name (as in the pipeline file)")->required();
  cmd->add_option("--to", promote->promote.environment, "Environment to promote to")->required();
  cmd->add_option("--project", promote->promote.project,
                  "Project of the image (default: the only project with runs of IMAGE)");
  cmd->add_option("--run", promote->promote.run_id,
                  "Run to continue (default: the run whose digest is in the environment before ENV)");
  cmd->add_option("--jobs,-j", promote->promote.jobs, "Stages run at once (default: the number of cores)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-cache", promote->promote.no_cache, "Rerun every stage");
  add_signing_key_option(cmd, promote->promote.signing_key);
  cmd->add_flag("--json", promote->json, "Print the run record as JSON");
  cmd->add_flag("--local", promote->local,
                "With --db: run the environment's stages here instead of queueing them for the fleet's agents");
  cmd->callback([&global, &action, promote] { action = [&global, promote] { return cmd_promote(global, *promote); }; });

  auto rollback = std::make_shared<QueryFlags>();
  cmd = cli.app.add_subcommand("rollback", "Move IMAGE in ENV back to the digest it had before (recorded as an event)");
  cmd->add_option("image", rollback->image, "Image name")->required();
  cmd->add_option("--env", rollback->env, "Environment")->required();
  cmd->add_option("--project", rollback->project, "Project of the image (default: the only one with IMAGE)");
  cmd->add_flag("--json", rollback->json, "Print the rollback event as JSON");
  cmd->callback([&global, &action, rollback] { action = [&global, rollback] { return cmd_rollback(global, *rollback); }; });

  auto* env = cli.app.add_subcommand("env", "Environments: which digest of each image is where");
  env->require_subcommand(1);
  auto env_ls = std::make_shared<QueryFlags>();
  cmd = env->add_subcommand("ls", "Each image's digest in each environment");
  cmd->add_option("image", env_ls->image, "Only this image");
  cmd->add_option("--project", env_ls->project, "Project (default: the only one in the store, or with IMAGE)");
  cmd->add_flag("--json", env_ls->json, R"(JSON: [{"project","image","environment","digest","commit","run","time"}])");
  cmd->callback([&global, &action, env_ls] {
    action = [&global, env_ls] {
      return with_store(global, [&](cache::Store& s) -> Status {
        const std::string project = TRY(pick_project(s, env_ls->project, env_ls->image));
        return print_environments(s, project, env_ls->image, env_ls->json, std::cout);
      });
    };
  });

  auto history = std::make_shared<QueryFlags>();
  cmd = cli.app.add_subcommand("history", "Runs (newest first) and promotion events, of one image or all");
  cmd->add_option("image", history->image, "Only runs and events of this image");
  cmd->add_option("--project", history->project, "Project (default: the only one in the store, or with IMAGE)");
  cmd->add_option("--limit,-n", history->limit, "How many runs and events (default 20)")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", history->json, "JSON: {\"runs\": [run records], \"promotions\": [events]}");
  cmd->callback([&global, &action, history] {
    action = [&global, history] {
      return with_store(global, [&](cache::Store& s) -> Status {
        const std::string project = TRY(pick_project(s, history->project, history->image));
        return print_history(s, project, history->image, history->limit, history->json, std::cout);
      });
    };
  });

  auto logs = std::make_shared<QueryFlags>();
  cmd = cli.app.add_subcommand("logs", "Print the logs of a run's build steps and stages (secrets are masked as ***)");
  cmd->add_option("run", logs->run, "Run id (or any unique part of it: a prefix, the random suffix)")->required();
  cmd->add_option("stage", logs->stage, "Only this stage, or only the build steps of this image");
  cmd->add_option("--service", logs->service, "The log of this service of STAGE (`services:`) instead of the stage's");
  cmd->callback([&global, &action, logs] {
    action = [&global, logs] {
      return with_store(global, [&](cache::Store& s) {
        return print_logs(s, logs->run, logs->stage, std::cout, logs->service);
      });
    };
  });

  auto tests = std::make_shared<QueryFlags>();
  tests->limit = 100;
  cmd = cli.app.add_subcommand("tests", "Test results of a run's stages (`reports: {junit: ...}`), failed tests first;\n"
                                        "--flaky: the tests whose outcome changed for the same stage key");
  cmd->add_option("run", tests->run, "Run id (or any unique part of it); optional with --flaky");
  cmd->add_option("stage", tests->stage, "Only this stage");
  cmd->add_flag("--flaky", tests->flaky, "List the flaky tests of the project's recent runs (or of RUN's project)");
  cmd->add_option("--project", tests->project, "With --flaky: the project (default: the only one in the store)");
  cmd->add_option("--limit,-n", tests->limit, "With --flaky: how many recent runs to examine (default 100)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", tests->json, "Print JSON (docs/run.md \"gantry tests\")");
  cmd->callback([&global, &action, tests] {
    action = [&global, tests] {
      return with_store(global, [&](cache::Store& s) -> Status {
        if (!tests->flaky) {
          if (tests->run.empty()) return fail(ErrorKind::usage, "gantry tests: RUN is required (or --flaky)");
          return print_tests(s, tests->run, tests->stage, tests->json, std::cout);
        }
        std::string project = tests->project;
        if (project.empty() && !tests->run.empty()) project = TRY(s.metadata().find_run(tests->run)).project;
        if (project.empty() && tests->run.empty()) project = TRY(pick_project(s, "", ""));
        return print_flaky_tests(s, project, tests->limit, tests->json, std::cout);
      });
    };
  });

  auto show = std::make_shared<QueryFlags>();
  cmd = cli.app.add_subcommand("show", "Show a run: its commit, images, stage results and promotions");
  cmd->add_option("run", show->run, "Run id (or any unique part of it: a prefix, the random suffix)")->required();
  cmd->add_flag("--json", show->json, "Print the run record as JSON");
  cmd->callback([&global, &action, show] {
    action = [&global, show] {
      return with_store(global, [&](cache::Store& s) { return print_run(s, show->run, show->json, std::cout); });
    };
  });

  auto w = std::make_shared<WatchFlags>();
  cmd = cli.app.add_subcommand(
      "watch", "Run the pipeline for every new commit of a branch, oldest first, one run at a time.\n"
               "Survives failed runs; remembers the last commit handled (per repository and branch).");
  cmd->add_option("repo", w->watch.run.repo, "Git repository: a local path or a URL")->required();
  cmd->add_option("--branch,-b", w->watch.branch, "Branch to follow (default: HEAD)");
  cmd->add_option("--interval", w->interval, "Time between polls (default 5s)");
  cmd->add_option("--since", w->watch.since,
                  "On the first watch of this branch, start after this revision (default: its current tip)");
  cmd->add_option("--max-runs", w->watch.max_runs, "Stop after this many runs")->check(CLI::PositiveNumber);
  cmd->add_flag("--once", w->watch.once, "Run what is new now, then stop");
  cmd->add_flag("--json", w->watch.json, "Print each run record as one JSON line");
  add_run_options(cmd, w->watch.run);
  cmd->callback([&global, &action, w] { action = [&global, w] { return cmd_watch(global, *w); }; });
}

}  // namespace gantry::runner
