// Registry credentials in the auth-file formats docker and podman write:
//   {"auths": {"HOST[:PORT]": {"auth": base64("user:password")}}}
// (also "username"/"password" fields, and keys written as URLs such as
// "https://index.docker.io/v1/"). Files read, first match wins:
//   --authfile, $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
//   $DOCKER_CONFIG/config.json or ~/.docker/config.json.
// `gantry login` writes to --authfile, else $REGISTRY_AUTH_FILE, else
// ~/.docker/config.json (created 0600), keeping every other key of the file.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace gantry::registry {

struct Credentials {
  std::string username;
  std::string password;
};

// The files looked at, in order (those that do not exist included).
std::vector<std::string> auth_file_candidates(const std::string& explicit_file);
// The file `gantry login` writes.
std::string auth_file_for_write(const std::string& explicit_file);

// Credentials for `host` (as written in references: "127.0.0.1:5000",
// "docker.io"); nullopt when no file has an entry. A malformed file is an
// invalid_input error naming it.
Result<std::optional<Credentials>> find_credentials(const std::string& host, const std::string& explicit_file = {});

// Adds or replaces host's entry in `file` (atomically, mode 0600).
Status store_credentials(const std::string& file, const std::string& host, const Credentials& credentials);
// Removes host's entry; not_found when there was none.
Status remove_credentials(const std::string& file, const std::string& host);

std::string base64_encode(std::string_view data);
Result<std::string> base64_decode(std::string_view text);

}  // namespace gantry::registry
