// WWW-Authenticate challenges (RFC 7235) as registries send them:
//   Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"
//   Basic realm="Registry Realm"
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gantry::registry {

struct AuthChallenge {
  std::string scheme;                         // lowercased: "bearer", "basic"
  std::map<std::string, std::string> params;  // names lowercased, values unquoted
  std::string param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
  }
};

// Every challenge in one header value (a value may hold several, comma-separated).
std::vector<AuthChallenge> parse_www_authenticate(std::string_view header);

// Whether the registry's Basic credentials may go with a token request to
// `realm` (a URL the registry chose, so as untrusted as the registry):
// only when the realm is the registry's own origin (scheme, host and port of
// `registry_base_url`, "http://127.0.0.1:5000"), or when it is HTTPS with a
// verified certificate. Never over plain HTTP to another host, where anyone
// on the path reads them (docs/security.md, "Token realms").
bool realm_may_receive_credentials(std::string_view registry_base_url, std::string_view realm, bool tls_verified);

}  // namespace gantry::registry
