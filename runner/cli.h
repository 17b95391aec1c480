// The command-line seam: every command group lives in its own cmd_*.cpp and
// registers its subcommands here; main() parses once and runs the one action.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "common/error.h"

namespace gantry::runner {

// Exit codes every command shares (documented in `gantry --help`).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the work asked for failed
inline constexpr int kExitUsage = 2;    // the command line is wrong

struct GlobalOptions {
  std::string store_dir;  // resolved by resolve_store_dir() before any action runs
  std::string runner_config;  // --runner-config as given; load_runner_config() (runner_config.h) reads it
  // --db, else $GANTRY_DB: the record on PostgreSQL (postgresql://...) instead of
  // the store's meta.db; "" = meta.db. open_store() (store_open.h) applies it.
  std::string db_url;
  int verbosity = 0;
};

// A chosen subcommand's work; returns the process exit code.
using Action = std::function<int()>;

struct Cli {
  CLI::App& app;
  GlobalOptions& global;
  Action& action;  // set by the chosen subcommand's parse callback
};

// --store, else $GANTRY_STORE, else /var/lib/gantry as root, else
// $XDG_DATA_HOME/gantry (~/.local/share/gantry); made absolute (against the
// working directory) and normalised, so every command sees one store path.
std::string resolve_store_dir(const std::string& flag_value);

// The subcommand `name` of app (a group such as "image" that several
// cmd_*.cpp files add to), created with `description` on first use.
CLI::App* command_group(CLI::App& app, const std::string& name, const std::string& description);

// --signing-key FILE (run, retry, promote, build, serve): the private key that
// signs attestations (run_attest.h: load_signing_key).
void add_signing_key_option(CLI::App* cmd, std::string& path);

// Prints "gantry: <message>" to stderr and returns the exit code for the error.
int report_error(const Error& error);

// Command groups: one cmd_*.cpp each, registered in main.cpp.
void add_exec_commands(Cli& cli);  // cmd_exec.cpp: gantry exec
void add_image_commands(Cli& cli);  // cmd_image.cpp: gantry image import|export|ls|inspect|rm|tag
void add_store_commands(Cli& cli);  // cmd_store.cpp: gantry gc, gantry fsck
void add_build_commands(Cli& cli);  // cmd_build.cpp: gantry build
void add_debug_commands(Cli& cli);  // cmd_debug.cpp: gantry debug
void add_run_commands(Cli& cli);  // cmd_run.cpp: gantry run, promote, rollback, env ls, history, logs, show, watch
void add_registry_commands(Cli& cli);  // cmd_registry.cpp: gantry image pull|push, login, logout
void add_secret_commands(Cli& cli);  // cmd_secret.cpp: gantry secret set|ls|rm|key set
void add_serve_commands(Cli& cli);  // cmd_serve.cpp: gantry serve
void add_key_commands(Cli& cli);  // cmd_key.cpp: gantry key generate
void add_verify_commands(Cli& cli);  // cmd_verify.cpp: gantry verify
void add_cache_dir_commands(Cli& cli);
void add_agent_commands(Cli& cli);  // cmd_agent.cpp: gantry agent, gantry agents  // cmd_cache_dirs.cpp: gantry cache dirs ls|rm (after add_registry_commands)

}  // namespace gantry::runner
