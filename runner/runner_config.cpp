#include "runner/runner_config.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <set>

#include "common/file_util.h"
#include "common/units.h"
#include "common/userns.h"

namespace gantry::runner {

namespace {

std::string where(const std::string& path, const YAML::Node& node, const std::string& key) {
  auto mark = node.Mark();
  return path + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ": " + key;
}

Error bad(const std::string& path, const YAML::Node& node, const std::string& key, const std::string& what) {
  return Error(ErrorKind::invalid_input, where(path, node, key) + ": " + what);
}

Status check_keys(const std::string& path, const YAML::Node& map, const std::string& key,
                  const std::set<std::string>& known) {
  if (!map.IsMap()) return fail(bad(path, map, key, "expected a mapping"));
  for (const auto& item : map) {
    auto name = item.first.as<std::string>();
    if (!known.count(name)) return fail(bad(path, item.first, key + "." + name, "unknown key"));
  }
  return {};
}

Result<std::string> scalar(const std::string& path, const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) return fail(bad(path, node, key, "expected a string"));
  return node.as<std::string>();
}

Result<std::uint64_t> size_of(const std::string& path, const YAML::Node& node, const std::string& key) {
  auto text = TRY(scalar(path, node, key));
  auto size = parse_byte_size(text);
  if (!size) return fail(bad(path, node, key, size.error().message()));
  return *size;
}

Result<std::vector<std::string>> string_list(const std::string& path, const YAML::Node& node,
                                             const std::string& key) {
  std::vector<std::string> out;
  if (node.IsScalar()) return std::vector<std::string>{node.as<std::string>()};
  if (!node.IsSequence()) return fail(bad(path, node, key, "expected a list of strings"));
  for (std::size_t i = 0; i < node.size(); ++i)
    out.push_back(TRY(scalar(path, node[i], key + "[" + std::to_string(i) + "]")));
  return out;
}

Result<SecretSource> parse_secret(const std::string& path, const YAML::Node& node, const std::string& key) {
  TRY(check_keys(path, node, key, {"file", "env", "store", "environments"}));
  SecretSource source;
  int kinds = 0;
  if (node["file"]) {
    source.kind = SecretSource::Kind::file;
    source.from = TRY(scalar(path, node["file"], key + ".file"));
    if (source.from.empty() || source.from[0] != '/')
      return fail(bad(path, node["file"], key + ".file", "must be an absolute path"));
    ++kinds;
  }
  if (node["env"]) {
    source.kind = SecretSource::Kind::env;
    source.from = TRY(scalar(path, node["env"], key + ".env"));
    ++kinds;
  }
  if (node["store"]) {
    source.kind = SecretSource::Kind::store;
    ++kinds;
  }
  if (kinds != 1) return fail(bad(path, node, key, "needs exactly one of file, env or store"));
  if (node["environments"])
    source.environments = TRY(string_list(path, node["environments"], key + ".environments"));
  return source;
}

// A path in the config: absolute, or relative to the config file's directory.
std::string config_relative(const std::string& config_path, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  auto slash = config_path.rfind('/');
  return (slash == std::string::npos ? std::string(".") : config_path.substr(0, slash)) + "/" + p;
}

Result<RequireRule> parse_require(const std::string& path, const YAML::Node& node, const std::string& key) {
  TRY(check_keys(path, node, key, {"signed_by", "provenance", "passed"}));
  RequireRule rule;
  if (node["signed_by"]) rule.signed_by = TRY(string_list(path, node["signed_by"], key + ".signed_by"));
  if (auto prov = node["provenance"]) {
    TRY(check_keys(path, prov, key + ".provenance", {"repository", "branch"}));
    if (prov["repository"]) rule.repository = TRY(scalar(path, prov["repository"], key + ".provenance.repository"));
    if (prov["branch"]) {
      auto b = TRY(scalar(path, prov["branch"], key + ".provenance.branch"));
      rule.branch = b.starts_with("refs/heads/") ? b.substr(11) : b;
    }
  }
  if (node["passed"]) rule.passed = TRY(string_list(path, node["passed"], key + ".passed"));
  return rule;
}

Result<ProjectPolicy> parse_policy(const std::string& path, const YAML::Node& node, const std::string& key) {
  TRY(check_keys(path, node, key, {"export_dir", "push", "secrets", "keys", "require"}));
  ProjectPolicy policy;
  if (node["export_dir"]) {
    auto dir = TRY(scalar(path, node["export_dir"], key + ".export_dir"));
    if (dir.empty() || dir[0] != '/')
      return fail(bad(path, node["export_dir"], key + ".export_dir", "must be an absolute path"));
    policy.export_dir = dir;
  }
  if (node["push"]) policy.push_allow = TRY(string_list(path, node["push"], key + ".push"));
  if (auto secrets = node["secrets"]) {
    if (!secrets.IsMap()) return fail(bad(path, secrets, key + ".secrets", "expected a mapping"));
    for (const auto& item : secrets) {
      auto name = item.first.as<std::string>();
      policy.secrets[name] = TRY(parse_secret(path, item.second, key + ".secrets." + name));
    }
  }
  if (auto keys = node["keys"]) {
    if (!keys.IsMap()) return fail(bad(path, keys, key + ".keys", "expected a mapping of key names to public key files"));
    for (const auto& item : keys) {
      auto name = item.first.as<std::string>();
      auto file = TRY(scalar(path, item.second, key + ".keys." + name));
      if (file.empty()) return fail(bad(path, item.second, key + ".keys." + name, "expected a public key file"));
      policy.keys[name] = config_relative(path, file);
    }
  }
  if (auto require = node["require"]) {
    if (!require.IsMap()) return fail(bad(path, require, key + ".require", "expected a mapping of environments to rules"));
    for (const auto& item : require) {
      auto env = item.first.as<std::string>();
      policy.require[env] = TRY(parse_require(path, item.second, key + ".require." + env));
    }
  }
  return policy;
}

Result<RunnerConfig> parse_root(const std::string& path, const YAML::Node& root) {
  RunnerConfig config;
  config.path = path;
  if (!root || root.IsNull()) return config;
  TRY(check_keys(path, root, "runner config",
                 {"limits", "max_secret_size", "max_layer_size", "projects", "signing_key"}));
  if (root["signing_key"]) config.signing_key = config_relative(path, TRY(scalar(path, root["signing_key"], "signing_key")));
  if (auto limits = root["limits"]) {
    TRY(check_keys(path, limits, "limits", {"memory", "pids", "tmpfs", "disk"}));
    if (limits["memory"]) config.limits.memory_bytes = TRY(size_of(path, limits["memory"], "limits.memory"));
    if (limits["tmpfs"]) config.limits.tmpfs_bytes = TRY(size_of(path, limits["tmpfs"], "limits.tmpfs"));
    if (limits["disk"]) config.limits.disk_bytes = TRY(size_of(path, limits["disk"], "limits.disk"));
    if (limits["pids"]) {
      auto text = TRY(scalar(path, limits["pids"], "limits.pids"));
      char* end = nullptr;
      unsigned long long pids = std::strtoull(text.c_str(), &end, 10);
      if (text.empty() || *end || pids == 0)
        return fail(bad(path, limits["pids"], "limits.pids", "expected a positive number"));
      config.limits.pids = pids;
    }
  }
  if (root["max_secret_size"]) config.max_secret_bytes = TRY(size_of(path, root["max_secret_size"], "max_secret_size"));
  if (root["max_layer_size"]) config.max_layer_bytes = TRY(size_of(path, root["max_layer_size"], "max_layer_size"));
  if (auto projects = root["projects"]) {
    if (!projects.IsMap()) return fail(bad(path, projects, "projects", "expected a mapping"));
    for (const auto& item : projects) {
      auto name = item.first.as<std::string>();
      config.projects[name] = TRY(parse_policy(path, item.second, "projects." + name));
    }
  }
  return config;
}

}  // namespace

DefaultLimits RunnerConfig::built_in_limits() {
  DefaultLimits limits;
  limits.memory_bytes = 2ull << 30;
  limits.pids = 1024;
  limits.tmpfs_bytes = 1ull << 30;
  limits.disk_bytes = 10ull << 30;
  return limits;
}

ProjectPolicy RunnerConfig::policy_for(const std::string& project) const {
  ProjectPolicy policy;
  if (auto all = projects.find("*"); all != projects.end()) policy = all->second;
  if (auto own = projects.find(project); own != projects.end() && project != "*") {
    if (own->second.export_dir) policy.export_dir = own->second.export_dir;
    if (!own->second.push_allow.empty()) policy.push_allow = own->second.push_allow;
    for (const auto& [name, source] : own->second.secrets) policy.secrets[name] = source;
    for (const auto& [name, file] : own->second.keys) policy.keys[name] = file;
    for (const auto& [env, rule] : own->second.require) policy.require[env] = rule;
  }
  return policy;
}

std::string RunnerConfig::key_dir() const {
  if (path.empty()) return "";
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

Result<RunnerConfig> parse_runner_config(const std::string& text, const std::string& path) {
  try {
    return parse_root(path, YAML::Load(text));
  } catch (const YAML::ParserException& e) {
    return fail(ErrorKind::invalid_input, path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                              std::to_string(e.mark.column + 1) + ": invalid YAML: " + e.msg);
  } catch (const YAML::Exception& e) {
    return fail(ErrorKind::invalid_input, path + ": " + e.what());
  }
}

Result<RunnerConfig> load_runner_config_file(const std::string& path) {
  auto text = TRY_CTX(read_file(path), "runner config");
  return parse_runner_config(text, path);
}

std::string default_runner_config_path() {
  if (::geteuid() == 0 && !userns::rootless()) return "/etc/gantry/runner.yml";
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) return std::string(xdg) + "/gantry/runner.yml";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.config/gantry/runner.yml";
}

Result<RunnerConfig> load_runner_config(const std::string& flag_value) {
  if (!flag_value.empty()) return load_runner_config_file(flag_value);
  if (const char* env = std::getenv("GANTRY_RUNNER_CONFIG"); env && *env) return load_runner_config_file(env);
  std::string path = default_runner_config_path();
  if (::access(path.c_str(), F_OK) != 0) return RunnerConfig{};
  return load_runner_config_file(path);
}

}  // namespace gantry::runner
