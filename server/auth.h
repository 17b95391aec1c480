// Who may call what (docs/serve.md, "Security"): bearer tokens compared in
// constant time, and the HMAC-SHA256 signatures of webhooks. No token or
// secret is ever logged or echoed back.
#pragma once

#include <string>
#include <string_view>

namespace gantry::server {

// Equal in time that depends on neither input's content or length: both are
// hashed (SHA-256) and the digests compared with CRYPTO_memcmp.
bool equal_secret(std::string_view given, std::string_view expected);

// The token of an "Authorization: Bearer <token>" header ("" when absent).
std::string bearer_token(std::string_view authorization);

// Hex HMAC-SHA256 of body with key.
std::string hmac_sha256_hex(std::string_view key, std::string_view body);

// Whether `signature` ("sha256=<hex>", or bare hex as Gitea's
// X-Gitea-Signature) is the HMAC-SHA256 of body under secret.
bool valid_signature(std::string_view signature, std::string_view secret, std::string_view body);

}  // namespace gantry::server
