// Registry options outside the command line: what `from:` pulls and
// promotion pushes use when no flag is given.
//   GANTRY_INSECURE_REGISTRIES   comma-separated hosts (plain http / unverified TLS)
//   GANTRY_REGISTRY_CA_FILE      an extra PEM CA bundle
//   REGISTRY_AUTH_FILE           the auth file (see credentials.h)
#pragma once

#include "registry/registry_client.h"

namespace gantry::registry {

RegistryOptions registry_options_from_env();

}  // namespace gantry::registry
