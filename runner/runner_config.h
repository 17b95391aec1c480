// The runner's own configuration: everything that touches the host and that
// a repository must not choose (docs/security.md). Where a secret's value
// comes from, which host directory exports may be written into, which
// registries a project may push to, the default limits of every container,
// and the size limits on what the runner ingests.
//
// Read from --runner-config FILE, else $GANTRY_RUNNER_CONFIG, else
// /etc/gantry/runner.yml as root, $XDG_CONFIG_HOME/gantry/runner.yml
// otherwise. A missing default file means the built-in defaults (no exports,
// no pushes, no secrets, the default limits); a missing file that was named
// explicitly is an error. The format is documented in docs/security.md.
//
//   limits:                       # defaults for every stage and build step
//     memory: 2G                  # a stage's own `limits:` may lower or raise them
//     pids: 1024
//     tmpfs: 1G                   # size of the in-memory upper dir
//     disk: 10G                   # size bound of an on-disk upper (upper_on_disk)
//   max_secret_size: 64k
//   max_layer_size: 8G            # uncompressed bytes of one layer on import/pull
//   projects:
//     "*":                        # every project (merged under the named ones)
//       export_dir: /srv/gantry/exports
//     app:                        # the project name the runner derives for a repository
//       export_dir: /srv/exports/app
//       push: [registry.example.com/team/app]   # allowed reference prefixes
//       secrets:
//         DEPLOY_TOKEN: {file: /etc/gantry/secrets/app-deploy, environments: [production]}
//         NPM_TOKEN: {env: CI_NPM_TOKEN}
//         API_KEY: {store: true}  # from `gantry secret set` (the store's 0600 secret file)
//       keys:                     # public keys `require: signed_by:` may name (docs/attestations.md)
//         release: /etc/gantry/keys/release.pub   # relative paths: from this file's directory
//       require:                  # per environment, on top of the pipeline's own `require:`
//         production: {signed_by: [release], provenance: {branch: main}, passed: [unit]}
//   signing_key: /etc/gantry/keys/gantry.key      # signs attestations (--signing-key, GANTRY_SIGNING_KEY win)
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace gantry::runner {

// Where the runner takes one secret's value from.
struct SecretSource {
  enum class Kind { file, env, store };
  Kind kind = Kind::store;
  std::string from;                       // file path / variable name; empty for store
  std::vector<std::string> environments;  // empty: every environment may see it
};

// What a digest's signed attestations must show before a promotion
// (attest/policy.h; the pipeline's `require:` has the same shape).
struct RequireRule {
  std::vector<std::string> signed_by;  // key names (ProjectPolicy::keys) or paths below the config's directory
  std::optional<std::string> repository;
  std::optional<std::string> branch;
  std::vector<std::string> passed;
};

// What one project may do on the host.
struct ProjectPolicy {
  std::optional<std::string> export_dir;  // exports are written only below it
  std::vector<std::string> push_allow;    // reference prefixes a promotion may push to
  std::map<std::string, SecretSource> secrets;
  std::map<std::string, std::string> keys;      // key name -> public key file (absolute)
  std::map<std::string, RequireRule> require;   // environment -> the runner's own rule for it
};

struct DefaultLimits {
  std::optional<std::uint64_t> memory_bytes;
  std::optional<std::uint64_t> pids;
  std::optional<std::uint64_t> tmpfs_bytes;
  std::optional<std::uint64_t> disk_bytes;
};

struct RunnerConfig {
  std::string path;  // the file it came from; empty for built-in defaults
  DefaultLimits limits = built_in_limits();
  std::uint64_t max_secret_bytes = 64 * 1024;
  std::uint64_t max_layer_bytes = 8ull << 30;
  std::map<std::string, ProjectPolicy> projects;  // "*" applies to every project
  std::string signing_key;  // private key that signs attestations ("" = none; absolute)
  // The directory of `path`: where key names that are not in `keys:` are
  // looked up (a pipeline's `signed_by: [keys/release.pub]`).
  std::string key_dir() const;

  static DefaultLimits built_in_limits();
  // The "*" section with the project's own section over it (lists and maps
  // of the named project replace the "*" ones key by key).
  ProjectPolicy policy_for(const std::string& project) const;
};

// Parses a runner configuration file; errors name file:line:col and key.
Result<RunnerConfig> load_runner_config_file(const std::string& path);
Result<RunnerConfig> parse_runner_config(const std::string& text, const std::string& path);

// --runner-config, else $GANTRY_RUNNER_CONFIG, else the default location
// (missing is fine there).
Result<RunnerConfig> load_runner_config(const std::string& flag_value);
std::string default_runner_config_path();

}  // namespace gantry::runner
