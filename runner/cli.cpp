#include "runner/cli.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

namespace gantry::runner {

std::string resolve_store_dir(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* env = std::getenv("GANTRY_STORE"); env && *env) return env;
  if (::geteuid() == 0) return "/var/lib/gantry";
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return std::string(xdg) + "/gantry";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.local/share/gantry";
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

int report_error(const Error& error) {
  std::cerr << "gantry: " << error.message() << "\n";
  return error.kind() == ErrorKind::usage ? kExitUsage : kExitFailure;
}

}  // namespace gantry::runner
