// Attestations on images: an in-toto Statement in a DSSE envelope (signed
// when a key is given), stored as an OCI 1.1 artifact whose subject is the
// image manifest (cache/referrers.h):
//
//   artifact manifest  artifactType  application/vnd.dsse.envelope.v1+json
//                      config        the empty descriptor ({})
//                      layers[0]     the envelope (application/vnd.dsse.envelope.v1+json)
//                      subject       the image manifest
//                      annotations   in-toto.io/predicate-type, org.opencontainers.image.created
//
// Reading them back checks, for each: the envelope parses, its payload is an
// in-toto Statement v1 naming the image's digest as a subject, and which of
// the given public keys verify a signature over its PAE.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/dsse.h"
#include "attest/signing_key.h"
#include "cache/referrers.h"
#include "common/digest.h"

namespace gantry::cache {
class Store;
}

namespace gantry::attest {

// Wraps `statement` in an envelope (signed by `key` unless null) and attaches
// it to the image manifest `subject`.
Result<cache::Descriptor> attach_statement(cache::Store& store, const Digest& subject,
                                           const nlohmann::json& statement, const SigningKey* key,
                                           std::int64_t created_ms);

struct Attestation {
  cache::Descriptor manifest{"", Digest::of(""), 0, "", {}};  // the artifact manifest
  std::string predicate_type;  // from the statement (the annotation when unreadable)
  std::string created;         // the org.opencontainers.image.created annotation
  nlohmann::json statement;    // the parsed payload; null when unreadable
  int signatures = 0;          // signatures the envelope carries
  std::vector<std::string> verified_by;  // ids of the given keys that verify one of them
  int bad_signatures = 0;      // signatures naming a given key's id that do not verify (tampered)
  std::string problem;         // "" = well formed and about this subject
  bool trusted() const { return problem.empty() && !verified_by.empty(); }
};

// Every DSSE attestation attached to `subject` (other referrers are skipped).
Result<std::vector<Attestation>> load_attestations(cache::Store& store, const Digest& subject,
                                                   const std::vector<SigningKey>& keys);

// A one-line summary of an attestation's content ("provenance: <repo> @ <commit>
// ref refs/heads/main, image app", "test result: unit (test) exit 0").
std::string summarize(const Attestation& a);

}  // namespace gantry::attest
