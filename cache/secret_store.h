// gantry's own secret store: values the runner provides to stages by name
// (`gantry secret set NAME [--project P] [--environment E]`), and the key
// of the keyed hashes (HMAC-SHA256) of secret values that go into stage keys.
// A pipeline only names secrets; what a name resolves to is decided here and
// in the runner's configuration (runner/runner_config.h), never by the
// repository (docs/security.md, "Secrets").
//
// Files (cache/store_paths.h), all owned by the store's owner:
//   secrets/            0700
//   secrets/values.json 0600, format 1:
//     {"format": 1, "secrets": [{"name", "project" ("" = every project),
//      "environment" ("" = every environment), "value_hex", "updated_ms"}]}
//     The value is hex so that any bytes fit in JSON: an encoding, not a
//     protection. The protection is the owner-only mode of the dir and file.
//   secrets/hmac.key    0600, the HMAC key: 32 random bytes made on first
//     use, or the bytes given to set_hmac_key() (runners that share a cache
//     share the key, so equal values give equal stage keys on each).
// Every file is written atomically (write_file_atomic) and is 0600 from its
// first byte. A dir or file with a group/other mode bit or another owner is
// refused, not read. Nothing here ever goes to meta.db or a log.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/store_paths.h"
#include "common/error.h"

namespace gantry::cache {

inline constexpr int kSecretStoreFormat = 1;
inline constexpr std::size_t kMinHmacKeyBytes = 16;

struct StoredSecret {
  std::string name;
  std::string project;      // "" = every project
  std::string environment;  // "" = every environment
  std::string value;
  std::int64_t updated_ms = 0;
};

class SecretStore {
 public:
  explicit SecretStore(const StorePaths& paths) : paths_(paths) {}

  // Adds or replaces the secret of the same (name, project, environment).
  Status set(const StoredSecret& secret);
  // Removes the secret of that exact scope; not_found when there is none.
  Status remove(const std::string& name, const std::string& project, const std::string& environment);
  // Every stored secret, sorted by name, project, environment.
  Result<std::vector<StoredSecret>> list() const;

  // The HMAC key, made (32 random bytes, 0600) on first use.
  Result<std::string> hmac_key() const;
  // Replaces the HMAC key (at least kMinHmacKeyBytes bytes).
  Status set_hmac_key(std::string_view key);

 private:
  Status ensure_dir() const;
  Status write_values(const std::vector<StoredSecret>& secrets) const;
  StorePaths paths_;
};

// The secret `name` a stage of `project` running in `environment` gets from
// the store: the most specific of (project, environment), (project, any),
// (any, environment), (any, any). nullopt when none applies; then
// `bound_elsewhere` (if given) lists the environments the name is stored for
// that this one is not, so the caller can say why.
std::optional<StoredSecret> pick_secret(const std::vector<StoredSecret>& stored, const std::string& name,
                                        const std::string& project, const std::string& environment,
                                        std::vector<std::string>* bound_elsewhere = nullptr);

}  // namespace gantry::cache
