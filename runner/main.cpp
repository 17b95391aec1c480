// gantry: a daemonless CI/CD runner. The containers' PID 1 is gantry-init,
// a small static program installed next to this binary (executor/init/).
#include <CLI/CLI.hpp>

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <string_view>

#include "common/log.h"
#include "common/phase_trace.h"
#include "common/userns.h"
#include "executor/container.h"
#include "runner/cli.h"

namespace {

constexpr const char* kExitCodeHelp = R"(
Exit codes:
  0    success
  1    the work asked for failed (a build step, a stage, a corrupt store, ...)
  2    usage error (unknown command, bad flag or argument)
  gantry exec: the command's own exit code; 128+N when signal N ended it;
  125  gantry could not start the container; 126 command not executable;
  127  command not found in the image)";

// The command the arguments name: the first one that is neither an option
// nor the value of one of `app`'s (global) options ("" when there is none).
// Which options take a value is asked of the parser, not listed again.
std::string_view command_word(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") return {};
    if (!arg.starts_with('-')) return arg;
    if (arg.find('=') != std::string_view::npos) continue;
    const CLI::Option* option = app.get_option_no_throw(std::string(arg));
    if (option && option->get_items_expected_min() > 0) ++i;  // its value follows
  }
  return {};
}

void add_all_commands(gantry::runner::Cli& cli) {
  using namespace gantry::runner;
  add_exec_commands(cli);
  add_build_commands(cli);
  add_debug_commands(cli);
  add_run_commands(cli);
  add_image_commands(cli);
  add_store_commands(cli);
  add_secret_commands(cli);
  add_serve_commands(cli);
  add_key_commands(cli);
  add_verify_commands(cli);
  add_registry_commands(cli);  // keep after add_image_commands: adds image pull/push to its group
  add_cache_dir_commands(cli);  // keep after add_registry_commands: adds `cache dirs` to its `cache`
  add_agent_commands(cli);
}

}  // namespace

int main(int argc, char** argv) {
  gantry::trace::phase("cli_main");
  // gantry's threads wait on containers, not on malloc: two arenas instead of
  // glibc's 8 per core keep a run's hundred supervisor threads from leaving
  // fragments in sixteen heaps (ci/bench-density: ~25 KB per parallel stage).
  ::mallopt(M_ARENA_MAX, 2);
  using namespace gantry::runner;

  auto parser = std::make_unique<CLI::App>(
      "gantry: a daemonless CI/CD runner: builds layered images with a step cache,\n"
      "runs each stage in a fresh container and promotes one digest through environments.");
  CLI::App& app = *parser;
  app.footer(kExitCodeHelp);
  app.require_subcommand(1);
  app.set_version_flag("--version", "gantry 0.1.0");
  // The global options may also follow the command (`gantry agent --db URL`);
  // a command's own option of the same name wins.
  app.fallthrough();

  GlobalOptions global;
  Action action;
  std::string store_flag;
  app.add_option("--store", store_flag, "Store directory (default: $GANTRY_STORE, /var/lib/gantry as root, "
                                        "$XDG_DATA_HOME/gantry otherwise)");
  app.add_option("--runner-config", global.runner_config,
                 "The runner's own configuration: secrets, export dirs, push targets, limits (default: "
                 "$GANTRY_RUNNER_CONFIG, /etc/gantry/runner.yml as root, $XDG_CONFIG_HOME/gantry/runner.yml)");
  app.add_option("--db", global.db_url,
                 "The record (runs, stage results, environments, promotions, caches' keys) on PostgreSQL: "
                 "postgresql://user:password@host[:port]/dbname (default: $GANTRY_DB; none: the store's meta.db). "
                 "Blobs, layers and logs stay in the local store")
      ->envname("GANTRY_DB");
  app.add_flag("-v,--verbose", global.verbosity, "More diagnostics (-vv for trace)");
  bool require_limits = false;
  app.add_flag("--require-limits", require_limits,
               "Without root: refuse a container whose memory/pids/cpu limits cannot be enforced (no delegated "
               "cgroup) instead of warning once and running it without them (docs/rootless.md)");

  Cli cli{app, global, action};
  // Command groups (runner/cmd_*.cpp) register here. `gantry exec` is the
  // start path of every container a user starts by hand and is measured
  // against crun: it registers only itself (building the whole parser, every
  // command's options and help, took ~0.6 ms of its ~11).
  if (command_word(app, argc, argv) == "exec")
    add_exec_commands(cli);
  else
    add_all_commands(cli);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (!action) return kExitUsage;
  gantry::trace::phase("cli_parsed");
  // The parser (every command's options and help, ~300 KB of heap) is not
  // needed by any action: a `gantry exec` lives as long as its container,
  // so it is freed now rather than at exit (the heap goes back to the
  // kernel after the container starts: executor::run's malloc_trim).
  parser.reset();
  // Without root: the command runs again as root of a user namespace of
  // its own (common/userns.h, docs/rootless.md); this process only waits.
  if (::geteuid() != 0) {
    auto rc = gantry::userns::reexec_in_user_namespace(argv);
    if (!rc) {
      std::cerr << "gantry: cannot run without root: " << rc.error().message() << "\n";
      return kExitFailure;
    }
    return *rc;
  }
  gantry::log::init(global.verbosity);
  gantry::executor::set_require_limits(require_limits);
  global.store_dir = resolve_store_dir(store_flag);
  int rc;
  try {
    rc = action();
  } catch (const std::exception& e) {
    std::cerr << "gantry: internal error: " << e.what() << "\n";
    rc = kExitFailure;
  }
  gantry::trace::phase("cli_exit");
  gantry::trace::print();
  // Out without the static destructors: every resource of the command (the
  // container, the store, its locks, connections, temp dirs) was released by
  // RAII when its action returned; what is left is freeing memory the kernel
  // frees anyway (OpenSSL's tables, the parser's statics): 0.2-0.5 ms of every
  // `gantry exec` (ci/bench-phases, "cli_exit -> launcher_wait_done").
  spdlog::shutdown();
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(rc);
}
