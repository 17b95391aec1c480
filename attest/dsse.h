// DSSE (Dead Simple Signing Envelope, v1.0.2): an envelope carries a payload
// and its type; each signature is over the Pre-Authentication Encoding
//
//   PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//
// (LEN: ASCII decimal byte count, no leading zeros), never over the JSON, so
// the type cannot be swapped under a signature. JSON form:
//   {"payload": "<base64 body>", "payloadType": "application/vnd.in-toto+json",
//    "signatures": [{"keyid": "sha256:<hex of the key's SPKI>", "sig": "<base64 DER>"}]}
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "attest/signing_key.h"
#include "common/error.h"

namespace gantry::attest {

inline constexpr const char* kInTotoPayloadType = "application/vnd.in-toto+json";
inline constexpr const char* kDsseMediaType = "application/vnd.dsse.envelope.v1+json";

std::string pae(std::string_view payload_type, std::string_view payload);
std::string base64_encode(std::string_view data);
// Standard or URL-safe alphabet, padding optional; invalid_input otherwise.
Result<std::string> base64_decode(std::string_view text);

struct DsseSignature {
  std::string keyid;
  std::string sig;  // raw DER bytes
};

struct Envelope {
  std::string payload_type;
  std::string payload;  // raw bytes
  std::vector<DsseSignature> signatures;

  std::string to_json() const;  // canonical: sorted keys, no spaces
  static Result<Envelope> parse(std::string_view json);
  // Adds a signature by `key` over PAE(payload_type, payload).
  Status sign(const SigningKey& key);
  // Whether one signature verifies under `key` (a signature whose keyid is
  // set and differs from the key's id is not tried).
  bool verified_by(const SigningKey& key) const;
};

}  // namespace gantry::attest
