// gantry serve: the CI server (server/serve.h, docs/serve.md).
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "common/units.h"
#include "runner/cli.h"
#include "runner/run_attest.h"
#include "runner/serve_backend.h"
#include "runner/store_open.h"
#include "server/serve.h"

namespace gantry::runner {

namespace {

struct ServeFlags {
  std::string config_file;
  std::string listen;
  std::vector<std::string> repos;
  std::string token_file;
  std::string read_token_file;
  std::string webhook_secret_file;
  int max_runs = 0;
  std::string grace;
  std::string max_body;
  std::string client_timeout;
  std::string signing_key;
};

Result<server::ServeConfig> serve_config(const ServeFlags& f, const GlobalOptions& global, bool store_given) {
  server::ServeConfig config;
  if (!f.config_file.empty()) TRY(server::load_serve_config(f.config_file, config));
  if (!f.listen.empty()) config.listen = f.listen;
  for (const auto& spec : f.repos) config.repos.push_back(TRY(server::parse_repo_spec(spec)));
  if (!f.token_file.empty()) config.token_file = f.token_file;
  if (!f.read_token_file.empty()) config.read_token_file = f.read_token_file;
  if (!f.webhook_secret_file.empty()) config.webhook_secret_file = f.webhook_secret_file;
  if (!f.signing_key.empty()) config.signing_key = f.signing_key;
  if (f.max_runs > 0) config.max_runs = f.max_runs;
  if (!f.grace.empty()) config.grace = TRY_CTX(parse_duration(f.grace), "--grace");
  if (!f.max_body.empty()) config.max_body = TRY_CTX(parse_byte_size(f.max_body), "--max-body");
  if (!f.client_timeout.empty()) config.client_timeout = TRY_CTX(parse_duration(f.client_timeout), "--client-timeout");
  if (store_given || config.store.empty()) config.store = global.store_dir;
  else config.store = resolve_store_dir(config.store);
  if (!global.runner_config.empty()) config.runner_config = global.runner_config;
  for (std::size_t i = 0; i < config.repos.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (config.repos[i].name == config.repos[j].name)
        return fail(ErrorKind::usage, "two repositories are named '" + config.repos[i].name + "' (use NAME=...)");
  return config;
}

int cmd_serve(GlobalOptions global, const ServeFlags& flags, bool store_given) {
  auto config = serve_config(flags, global, store_given);
  if (!config) return report_error(config.error());
  global.store_dir = config->store;
  global.runner_config = config->runner_config;
  auto runner_config = load_runner_config(global.runner_config);
  if (!runner_config) return report_error(runner_config.error());
  auto store = open_store(global, *runner_config);
  if (!store) return report_error(store.error());
  // The runs it starts (child `gantry run`s) record into the same database;
  // by environment, not argv: the URL may carry a password (containers get
  // none of gantry's environment).
  if (!global.db_url.empty()) ::setenv("GANTRY_DB", global.db_url.c_str(), 1);
  // The signing key (--signing-key, else serve.yml's signing_key, else
  // $GANTRY_SIGNING_KEY, else the runner config's): its path, never its
  // content, reaches the runs by environment, as $GANTRY_SIGNING_KEY (the
  // in-process promotions read it there too). Checked now: a key that cannot
  // sign stops the server before it takes any work.
  if (!config->signing_key.empty()) {
    std::error_code ec;
    auto path = std::filesystem::absolute(config->signing_key, ec);
    ::setenv("GANTRY_SIGNING_KEY", (ec ? config->signing_key : path.lexically_normal().string()).c_str(), 1);
  }
  if (auto signer = load_signing_key("", *runner_config); !signer) return report_error(signer.error());
  auto backend = make_serve_backend(**store, global, std::move(*runner_config));
  if (auto st = server::serve(*config, **store, *backend); !st) return report_error(st.error());
  return kExitOk;
}

}  // namespace

void add_serve_commands(Cli& cli) {
  auto& global = cli.global;
  auto& action = cli.action;
  auto& app = cli.app;
  auto f = std::make_shared<ServeFlags>();
  auto* cmd = cli.app.add_subcommand(
      "serve", "The team's CI server on this store: webhooks (GitHub, Gitea, GitLab), a REST API, live event\n"
               "streams and a dashboard; runs queued runs, --max-runs at once (docs/serve.md).");
  cmd->fallthrough();  // --store and --runner-config may follow `serve`
  cmd->add_option("--config", f->config_file, "Settings from a YAML file (docs/serve.md); flags given win");
  cmd->add_option("--listen", f->listen, "HOST:PORT to listen on (default 127.0.0.1:8080; port 0 picks one)");
  cmd->add_option("--repo", f->repos, "[NAME=]PATH_OR_URL: a repository runs may be queued for (repeatable)");
  cmd->add_option("--token-file", f->token_file, "The bearer token of write routes (promote, rollback, runs)");
  cmd->add_option("--read-token-file", f->read_token_file,
                  "The bearer token of read routes when --listen is not a loopback address");
  cmd->add_option("--webhook-secret-file", f->webhook_secret_file, "The forges' webhook secret");
  cmd->add_option("--max-runs", f->max_runs, "Runs at once (default 1)")->check(CLI::PositiveNumber);
  cmd->add_option("--grace", f->grace, "On SIGTERM, how long running runs may finish (default 30s)");
  cmd->add_option("--max-body", f->max_body, "Largest request body (default 1MiB; bigger: 413)");
  cmd->add_option("--client-timeout", f->client_timeout, "How long a client may take to send a request (default 30s)");
  add_signing_key_option(cmd, f->signing_key);
  cmd->callback([&global, &action, &app, f] {
    const bool store_given = app.get_option("--store")->count() > 0 || std::getenv("GANTRY_STORE");
    action = [&global, f, store_given] { return cmd_serve(global, *f, store_given); };
  });
}

}  // namespace gantry::runner
