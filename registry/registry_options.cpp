#include "registry/registry_options.h"

#include <cstdlib>

namespace gantry::registry {

RegistryOptions registry_options_from_env() {
  RegistryOptions o;
  if (const char* ca = std::getenv("GANTRY_REGISTRY_CA_FILE"); ca && *ca) o.ca_file = ca;
  if (const char* list = std::getenv("GANTRY_INSECURE_REGISTRIES"); list && *list) {
    std::string s = list;
    std::size_t start = 0;
    while (start <= s.size()) {
      auto comma = s.find(',', start);
      std::string host = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!host.empty()) o.insecure_registries.push_back(host);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return o;
}

}  // namespace gantry::registry
