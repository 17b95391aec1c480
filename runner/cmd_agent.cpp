// gantry agent: a fleet worker (fleet_agent.h); gantry agents: the fleet's
// agents as the shared record knows them (docs/scale-out.md).
#include <unistd.h>

#include <iostream>

#include <nlohmann/json.hpp>

#include "common/units.h"
#include "pgstore/pg_metadata.h"
#include "pgstore/pg_queue.h"
#include "runner/cli.h"
#include "runner/fleet_agent.h"
#include "runner/run_signals.h"
#include "runner/store_open.h"

namespace gantry::runner {

namespace {

struct AgentFlags {
  AgentOptions agent;
  std::string labels;  // a,b
  double lease_seconds = 30;
};

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "agent";
  return buf;
}

int cmd_agent(const GlobalOptions& global, AgentFlags f) {
  if (global.db_url.empty())
    return report_error(Error(ErrorKind::usage, "gantry agent needs the fleet's database: --db URL (or GANTRY_DB)"));
  auto config = load_runner_config(global.runner_config);
  if (!config) return report_error(config.error());
  auto store = open_store(global, *config);
  if (!store) return report_error(store.error());
  AgentOptions& a = f.agent;
  a.db_url = global.db_url;
  a.labels = pgstore::split_commas(f.labels);
  a.lease_ms = static_cast<std::int64_t>(f.lease_seconds * 1000);
  a.settings.runner_config = std::move(*config);
  if (a.settings.name.empty()) a.settings.name = host_name();
  InterruptGuard interrupt;
  if (auto st = run_agent(**store, a, interrupt.token()); !st) return report_error(st.error());
  return kExitOk;
}

int cmd_agents(const GlobalOptions& global, bool json) {
  if (global.db_url.empty())
    return report_error(Error(ErrorKind::usage, "gantry agents reads the fleet's database: --db URL (or GANTRY_DB)"));
  // The store's record is the database's (store_open.h): migrated, or a
  // newer schema refused, as for every other command; its connection serves.
  auto store = open_store(global);
  if (!store) return report_error(store.error());
  auto* pg = dynamic_cast<pgstore::PgMetadata*>(&(*store)->metadata());
  if (pg == nullptr) return report_error(Error(ErrorKind::usage, "gantry agents: --db is not a PostgreSQL record"));
  pgstore::PgQueue queue(pg->connection());
  auto agents = queue.agents();
  if (!agents) return report_error(agents.error());
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& a : *agents)
      list.push_back({{"name", a.name},
                      {"labels", a.labels},
                      {"heartbeat", format_utc_time(a.heartbeat_ms / 1000)},
                      {"heartbeat_ms", a.heartbeat_ms},
                      {"jobs", a.jobs}});
    std::cout << nlohmann::json{{"agents", list}}.dump(2) << "\n";
    return kExitOk;
  }
  if (agents->empty()) {
    std::cout << "no agent has announced itself (start one: gantry agent --db URL --registry HOST/REPO)\n";
    return kExitOk;
  }
  for (const auto& a : *agents) {
    std::string labels, jobs;
    for (const auto& l : a.labels) labels += (labels.empty() ? "" : ",") + l;
    for (const auto& j : a.jobs) jobs += (jobs.empty() ? "" : " ") + j;
    std::cout << a.name << "  labels: " << (labels.empty() ? "-" : labels)
              << "  last heartbeat: " << format_utc_time(a.heartbeat_ms / 1000) << "  jobs: " << (jobs.empty() ? "-" : jobs)
              << "\n";
  }
  return kExitOk;
}

}  // namespace

void add_agent_commands(Cli& cli) {
  auto flags = std::make_shared<AgentFlags>();
  auto* cmd = cli.app.add_subcommand(
      "agent", "Work for a fleet (docs/scale-out.md): claim jobs of runs queued in --db's PostgreSQL, run\n"
               "them in fresh containers in this store, move images through --registry by digest.\n"
               "SIGINT/SIGTERM: claim nothing more, finish the running jobs, exit 0.");
  cmd->add_option("--registry", flags->agent.settings.registry,
                  "HOST[:PORT]/REPO: where built images are pushed and pulled from by digest (the same for "
                  "every agent of the fleet)")
      ->required();
  cmd->add_option("--name", flags->agent.settings.name, "The agent's name (default: the host name)");
  cmd->add_option("--jobs,-j", flags->agent.jobs, "Jobs run at once (default 1)")->check(CLI::PositiveNumber);
  cmd->add_option("--labels", flags->labels, "Labels a stage's runs_on may ask for: a,b");
  cmd->add_option("--lease", flags->lease_seconds,
                  "Seconds a claim holds without a heartbeat before another agent may take the job (default 30)")
      ->check(CLI::Range(1.0, 3600.0));
  cmd->add_option("--poll", flags->agent.poll_ms, "Milliseconds between looks at an empty queue (default 500)")
      ->check(CLI::Range(10, 60000));
  cmd->add_flag("--exit-when-idle", flags->agent.exit_when_idle,
                "Exit once no job of any run is waiting, queued or claimed (benchmarks, one-shot fleets)");
  cmd->add_option("--signing-key", flags->agent.settings.signing_key,
                  "Private key signing the attestations of the images it builds (default: $GANTRY_SIGNING_KEY, "
                  "else the runner config's signing_key)");
  cmd->callback([&cli, flags] { cli.action = [&cli, flags] { return cmd_agent(cli.global, *flags); }; });

  auto json = std::make_shared<bool>(false);
  cmd = cli.app.add_subcommand("agents", "The fleet's agents: labels, last heartbeat, current jobs (--db)");
  cmd->add_flag("--json", *json,
                R"(JSON: {"agents": [{"name", "labels", "heartbeat", "heartbeat_ms", "jobs": ["RUN/JOB"]}]})");
  cmd->callback([&cli, json] { cli.action = [&cli, json] { return cmd_agents(cli.global, *json); }; });
}

}  // namespace gantry::runner
