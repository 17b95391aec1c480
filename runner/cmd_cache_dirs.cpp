// gantry cache dirs ls|rm: the cache directories of `caches:` (cache/cache_dirs.h).
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cache/cache_dirs.h"
#include "cache/store.h"
#include "common/project_name.h"
#include "runner/cli.h"

namespace gantry::runner {

namespace {

std::string human_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  std::ostringstream out;
  out << std::fixed << std::setprecision(u == 0 ? 0 : 1) << v << " " << units[u];
  return out.str();
}

int run_ls(const GlobalOptions& g, const std::string& project, bool as_json) {
  auto store = cache::Store::open(g.store_dir);
  if (!store) return report_error(store.error());
  auto list = cache::CacheDirs((*store)->paths()).list(project);
  if (!list) return report_error(list.error());
  if (as_json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : *list)
      out.push_back({{"project", c.project}, {"name", c.name}, {"path", c.path}, {"bytes", c.bytes}, {"in_use", c.in_use}});
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  if (list->empty()) {
    std::cout << "no cache directories\n";
    return kExitOk;
  }
  std::cout << std::left << std::setw(20) << "PROJECT" << std::setw(24) << "NAME" << std::setw(12) << "SIZE"
            << "IN USE\n";
  for (const auto& c : *list)
    std::cout << std::left << std::setw(20) << c.project << std::setw(24) << c.name << std::setw(12)
              << human_bytes(c.bytes) << (c.in_use ? "yes" : "no") << "\n";
  return kExitOk;
}

int run_rm(const GlobalOptions& g, const std::string& project, const std::vector<std::string>& names) {
  if (auto problem = project_name_problem(project))
    return report_error(Error(ErrorKind::usage, "--project: " + *problem));
  auto store = cache::Store::open(g.store_dir);
  if (!store) return report_error(store.error());
  cache::CacheDirs caches((*store)->paths());
  int rc = kExitOk;
  for (const auto& name : names) {
    auto freed = caches.remove(project, name);
    if (!freed) {
      rc = report_error(freed.error());
      continue;
    }
    std::cout << "removed cache " << name << " of project " << project << " (" << human_bytes(*freed) << ")\n";
  }
  return rc;
}

}  // namespace

void add_cache_dir_commands(Cli& cli) {
  CLI::App* cache_cmd = command_group(cli.app, "cache", "Share the build step cache through a registry");
  auto* dirs = cache_cmd->add_subcommand("dirs", "Cache directories of `caches:` (persistent, per project and name)");
  dirs->require_subcommand(1);
  auto project = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  auto names = std::make_shared<std::vector<std::string>>();
  auto* ls = dirs->add_subcommand("ls", "List cache directories with their size and whether a container uses them");
  ls->add_option("--project", *project, "Only this project's");
  ls->add_flag("--json", *as_json, "JSON output");
  ls->parse_complete_callback([&cli, project, as_json] {
    cli.action = [&cli, project, as_json] { return run_ls(cli.global, *project, *as_json); };
  });
  auto* rm = dirs->add_subcommand("rm", "Remove cache directories (NAME: every instance; NAME@N: one private one)");
  rm->add_option("--project", *project, "The project they belong to")->required();
  rm->add_option("NAME", *names, "Cache names")->required();
  rm->parse_complete_callback([&cli, project, names] {
    cli.action = [&cli, project, names] { return run_rm(cli.global, *project, *names); };
  });
}

}  // namespace gantry::runner
