#include "runner/cli.h"

#include "common/userns.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace gantry::runner {

namespace {

std::string chosen_store_dir(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* env = std::getenv("GANTRY_STORE"); env && *env) return env;
  // Root of gantry's own user namespace is a user (common/userns.h).
  if (::geteuid() == 0 && !userns::rootless()) return "/var/lib/gantry";
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return std::string(xdg) + "/gantry";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.local/share/gantry";
}

}  // namespace

std::string resolve_store_dir(const std::string& flag_value) {
  // Absolute once, here: containers, overlay mounts and work_root need
  // absolute paths, and a relative one must not change meaning half-way.
  std::error_code ec;
  auto absolute = std::filesystem::absolute(chosen_store_dir(flag_value), ec);
  if (ec) return chosen_store_dir(flag_value);
  std::string out = absolute.lexically_normal().string();
  while (out.size() > 1 && out.ends_with('/')) out.pop_back();
  return out;
}

CLI::App* command_group(CLI::App& app, const std::string& name, const std::string& description) {
  try {
    return app.get_subcommand(name);
  } catch (const CLI::OptionNotFound&) {
    CLI::App* group = app.add_subcommand(name, description);
    group->require_subcommand(1);
    return group;
  }
}

void add_signing_key_option(CLI::App* cmd, std::string& path) {
  cmd->add_option("--signing-key", path,
                  "Private key (gantry key generate) signing the attestations (default: $GANTRY_SIGNING_KEY, "
                  "else the runner config's signing_key)");
}

int report_error(const Error& error) {
  std::cerr << "gantry: " << error.message() << "\n";
  return error.kind() == ErrorKind::usage ? kExitUsage : kExitFailure;
}

}  // namespace gantry::runner
