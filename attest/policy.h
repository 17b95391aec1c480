// The `require:` rules of an environment, checked against the attestations
// of one digest (attestations.h). Only attestations that are well formed,
// name the digest, and are signed by one of the required keys count: an
// unsigned or otherwise-signed statement satisfies nothing. Without
// `signed_by` every well-formed attestation counts (the rules then check
// content only: anyone who can write the store could have added it).
//
// Rules, checked in this order; the first that fails is named:
//   signed_by   a provenance statement of the digest signed by one of the keys
//   provenance  repository: its externalParameters.repository (a trailing
//               "/" or ".git" ignored); branch: its ref is refs/heads/<branch>
//   passed      for each stage, a test-result statement with that stage and
//               exit code 0
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "attest/attestations.h"
#include "attest/signing_key.h"

namespace gantry::attest {

struct Requirement {
  std::vector<SigningKey> signed_by;  // resolved by the runner from key names
  std::vector<std::string> key_names;  // as written (for messages), parallel to signed_by
  std::optional<std::string> repository;
  std::optional<std::string> branch;
  std::vector<std::string> passed;
  bool empty() const { return signed_by.empty() && !repository && !branch && passed.empty(); }
};

struct Verdict {
  bool ok = true;
  std::string rule;    // "signed_by", "provenance.repository", "provenance.branch", "passed"
  std::string detail;  // what was missing or different
};

Verdict check_requirement(const std::vector<Attestation>& attestations, const Requirement& req);

// Repository identities compared: a trailing "/" and ".git" are ignored.
std::string normalize_repository(std::string repository);

}  // namespace gantry::attest
