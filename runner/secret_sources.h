// Where the value of each secret a stage names comes from. The pipeline only
// names secrets; the runner decides (docs/security.md, "Secrets"):
//   1. the runner config's projects.<project>.secrets.<NAME> when it maps
//      the name: {file: PATH}, {env: VARIABLE} (of the runner's own
//      environment) or {store: true}; its `environments:` binds it;
//   2. else gantry's secret store (`gantry secret set NAME [--project P]
//      [--environment E]`), the most specific entry for the project and the
//      stage's environment.
// A stage in an environment a secret is not bound to fails with an error
// that says so; a value over the runner's max_secret_size is refused
// without reading more than max+1 bytes of it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cache/secret_store.h"
#include "common/error.h"
#include "runner/runner_config.h"

namespace gantry::runner {

// A secret resolved for one stage: its value (memory only) and the keyed
// hash of the value that goes into the stage key (never the value, never a
// plain hash of it).
struct ResolvedSecret {
  std::string name;
  std::string value;
  std::string keyed_digest;  // "hmac-sha256:<hex>" under the store's secret key
};

class SecretSources {
 public:
  SecretSources(const cache::StorePaths& paths, std::string project, ProjectPolicy policy, std::uint64_t max_bytes,
                std::string config_shown)
      : store_(paths),
        project_(std::move(project)),
        policy_(std::move(policy)),
        max_bytes_(max_bytes),
        config_shown_(std::move(config_shown)) {}

  // The secret `name` for stage `stage` of environment `environment`.
  Result<ResolvedSecret> resolve(const std::string& stage, const std::string& environment, const std::string& name);

 private:
  Result<std::string> from_store(const std::string& what, const std::string& environment, const std::string& name);
  Status check_size(const std::string& what, std::size_t size, const std::string& source) const;

  cache::SecretStore store_;
  std::string project_;
  ProjectPolicy policy_;
  std::uint64_t max_bytes_;
  std::string config_shown_;
  std::optional<std::vector<cache::StoredSecret>> stored_;  // loaded on first use
  std::optional<std::string> hmac_key_;
};

// At most max_bytes + 1 bytes of the file (a bigger one is refused by the
// caller; /dev/zero never fills memory). One trailing '\n' is dropped.
Result<std::string> read_bounded(const std::string& path, std::uint64_t max_bytes);
// As read_bounded, from an open fd (stdin for `gantry secret set`).
Result<std::string> read_bounded_fd(int fd, const std::string& shown, std::uint64_t max_bytes);

// True for a valid secret or project/environment name.
bool valid_secret_name(const std::string& name);

}  // namespace gantry::runner
