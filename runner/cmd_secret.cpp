// gantry secret set | ls | rm | key set: the runner's own secret store
// (cache/secret_store.h). Values are read from stdin, never from the command
// line (which other users see in ps), and never printed.
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cache/secret_store.h"
#include "cache/store.h"
#include "common/units.h"
#include "runner/cli.h"
#include "runner/runner_config.h"
#include "runner/secret_sources.h"

namespace gantry::runner {

namespace {

using nlohmann::json;

struct SecretFlags {
  std::vector<std::string> names;
  std::string project;
  std::string environment;
  bool json = false;
};

bool valid_scope_name(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

Status check_flags(const SecretFlags& f) {
  for (const auto& name : f.names)
    if (!valid_secret_name(name))
      return fail(ErrorKind::usage,
                  "invalid secret name '" + name + "': expected letters, digits and '_', not starting with a digit");
  if (!f.project.empty() && !valid_scope_name(f.project))
    return fail(ErrorKind::usage, "--project: invalid project name '" + f.project + "': expected letters, digits, '.', '_' and '-'");
  if (!f.environment.empty() && !valid_scope_name(f.environment))
    return fail(ErrorKind::usage,
                "--environment: invalid environment name '" + f.environment + "': expected letters, digits, '.', '_' and '-'");
  return {};
}

std::string scope_text(const std::string& project, const std::string& environment) {
  return (project.empty() ? std::string("every project") : "project " + project) +
         (environment.empty() ? ", every environment" : ", environment " + environment);
}

int cmd_set(const GlobalOptions& g, const SecretFlags& f) {
  if (auto st = check_flags(f); !st) return report_error(st.error());
  auto config = load_runner_config(g.runner_config);
  if (!config) return report_error(config.error());
  auto store = cache::Store::open(g.store_dir);
  if (!store) return report_error(store.error());
  auto value = read_bounded_fd(STDIN_FILENO, "stdin", config->max_secret_bytes);
  if (!value) return report_error(value.error());
  if (value->size() > config->max_secret_bytes)
    return report_error(Error(ErrorKind::invalid_input,
                              "secret " + f.names.front() + ": the value on stdin is bigger than " +
                                  std::to_string(config->max_secret_bytes) + " bytes, the runner's max_secret_size" +
                                  (config->path.empty() ? "" : " (" + config->path + ")") + "; nothing stored"));
  if (value->empty())
    return report_error(Error(ErrorKind::invalid_input,
                              "secret " + f.names.front() + ": no value on stdin; nothing stored"));
  cache::SecretStore secrets((*store)->paths());
  auto st = secrets.set({f.names.front(), f.project, f.environment, *value, 0});
  if (!st) return report_error(st.error());
  std::cout << "set secret " << f.names.front() << " for " << scope_text(f.project, f.environment) << " ("
            << value->size() << " bytes)\n";
  return kExitOk;
}

int cmd_ls(const GlobalOptions& g, const SecretFlags& f) {
  if (auto st = check_flags(f); !st) return report_error(st.error());
  auto store = cache::Store::open(g.store_dir);
  if (!store) return report_error(store.error());
  auto list = cache::SecretStore((*store)->paths()).list();
  if (!list) return report_error(list.error());
  json out = json::array();
  for (const auto& s : *list) {
    if (!f.project.empty() && !s.project.empty() && s.project != f.project) continue;
    out.push_back({{"name", s.name},
                   {"project", s.project.empty() ? json() : json(s.project)},
                   {"environment", s.environment.empty() ? json() : json(s.environment)},
                   {"bytes", s.value.size()},
                   {"updated", format_utc_time(s.updated_ms / 1000)}});
  }
  if (f.json) {
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  if (out.empty()) {
    std::cout << "no secrets" << (f.project.empty() ? "" : " for project " + f.project) << "\n";
    return kExitOk;
  }
  std::printf("%-24s %-16s %-16s %8s  %s\n", "NAME", "PROJECT", "ENVIRONMENT", "BYTES", "UPDATED");
  for (const auto& s : out)
    std::printf("%-24s %-16s %-16s %8llu  %s\n", s["name"].get<std::string>().c_str(),
                s["project"].is_null() ? "*" : s["project"].get<std::string>().c_str(),
                s["environment"].is_null() ? "*" : s["environment"].get<std::string>().c_str(),
                static_cast<unsigned long long>(s["bytes"].get<std::size_t>()), s["updated"].get<std::string>().c_str());
  return kExitOk;
}

int cmd_rm(const GlobalOptions& g, const SecretFlags& f) {
  if (auto st = check_flags(f); !st) return report_error(st.error());
  auto store = cache::Store::open(g.store_dir);
  if (!store) return report_error(store.error());
  cache::SecretStore secrets((*store)->paths());
  int rc = kExitOk;
  for (const auto& name : f.names) {
    if (auto st = secrets.remove(name, f.project, f.environment); !st) {
      rc = report_error(st.error());
      continue;
    }
    std::cout << "removed secret " << name << " for " << scope_text(f.project, f.environment) << "\n";
  }
  return rc;
}

int cmd_key_set(const GlobalOptions& g) {
  auto store = cache::Store::open(g.store_dir);
  if (!store) return report_error(store.error());
  auto key = read_bounded_fd(STDIN_FILENO, "stdin", 4096);
  if (!key) return report_error(key.error());
  if (key->size() > 4096)
    return report_error(Error(ErrorKind::invalid_input, "the key on stdin is bigger than 4096 bytes; not set"));
  auto st = cache::SecretStore((*store)->paths()).set_hmac_key(*key);
  if (!st) return report_error(st.error());
  std::cout << "set the secret store's HMAC key (" << key->size()
            << " bytes): stage keys of stages with secrets change with it\n";
  return kExitOk;
}

}  // namespace

void add_secret_commands(Cli& cli) {
  auto* group = command_group(cli.app, "secret",
                              "The runner's secret store: values stages get by name (a pipeline names secrets, "
                              "the runner provides them)");
  auto add_scope = [](CLI::App* cmd, SecretFlags& f, const char* what) {
    cmd->add_option("--project,-p", f.project, std::string("Project ") + what + " (default: every project)");
    cmd->add_option("--environment,-e", f.environment,
                    std::string("Environment ") + what + " (default: every environment)");
  };

  auto set_flags = std::make_shared<SecretFlags>();
  auto* set = group->add_subcommand(
      "set", "Store NAME's value, read from stdin (one trailing newline dropped), for a project and/or environment");
  set->add_option("name", set_flags->names, "Secret name (the variable the stage sees)")->required()->expected(1);
  add_scope(set, *set_flags, "that may use it");
  set->parse_complete_callback([&cli, set_flags] { cli.action = [&cli, set_flags] { return cmd_set(cli.global, *set_flags); }; });

  auto ls_flags = std::make_shared<SecretFlags>();
  auto* ls = group->add_subcommand("ls", "List stored secrets: names, scopes, sizes (never values)");
  ls->add_option("--project,-p", ls_flags->project, "Only the secrets this project can see");
  ls->add_flag("--json", ls_flags->json, "JSON output");
  ls->parse_complete_callback([&cli, ls_flags] { cli.action = [&cli, ls_flags] { return cmd_ls(cli.global, *ls_flags); }; });

  auto rm_flags = std::make_shared<SecretFlags>();
  auto* rm = group->add_subcommand("rm", "Remove stored secrets (of exactly the given scope)");
  rm->add_option("names", rm_flags->names, "Secret names")->required();
  add_scope(rm, *rm_flags, "the secret was set for");
  rm->parse_complete_callback([&cli, rm_flags] { cli.action = [&cli, rm_flags] { return cmd_rm(cli.global, *rm_flags); }; });

  auto* key = group->add_subcommand("key", "The key of the keyed hashes of secret values in stage keys");
  key->require_subcommand(1);
  auto* key_set = key->add_subcommand(
      "set", "Replace the HMAC key with the bytes on stdin (16+; runners that share a cache share the key)");
  key_set->parse_complete_callback([&cli] { cli.action = [&cli] { return cmd_key_set(cli.global); }; });
}

}  // namespace gantry::runner
