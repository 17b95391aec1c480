#include "attest/policy.h"

#include <algorithm>

#include "attest/statements.h"

namespace gantry::attest {

using nlohmann::json;

std::string normalize_repository(std::string r) {
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  if (r.ends_with(".git")) r.resize(r.size() - 4);
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  return r;
}

namespace {

json external_parameters(const Attestation& a) {
  const json& p = a.statement.value("predicate", json::object());
  if (!p.is_object() || !p.contains("buildDefinition") || !p["buildDefinition"].is_object()) return json::object();
  json ext = p["buildDefinition"].value("externalParameters", json::object());
  return ext.is_object() ? ext : json::object();
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

Verdict check_requirement(const std::vector<Attestation>& all, const Requirement& req) {
  // What counts: well formed, and (with signed_by) signed by a required key.
  std::vector<const Attestation*> counted;
  int unsigned_or_other = 0, malformed = 0;
  for (const auto& a : all) {
    if (!a.problem.empty()) {
      ++malformed;
      continue;
    }
    if (!req.signed_by.empty()) {
      bool by_required = std::any_of(req.signed_by.begin(), req.signed_by.end(), [&](const SigningKey& k) {
        return std::find(a.verified_by.begin(), a.verified_by.end(), k.id()) != a.verified_by.end();
      });
      if (!by_required) {
        ++unsigned_or_other;
        continue;
      }
    }
    counted.push_back(&a);
  }
  std::vector<const Attestation*> provenance;
  for (const auto* a : counted)
    if (a->predicate_type == kSlsaProvenanceType) provenance.push_back(a);

  auto found = [&] {
    return std::to_string(all.size()) + " attestation(s) found" +
           (unsigned_or_other ? ", " + std::to_string(unsigned_or_other) + " unsigned or signed by another key" : "") +
           (malformed ? ", " + std::to_string(malformed) + " malformed" : "");
  };
  if (!req.signed_by.empty() && provenance.empty())
    return {false, "signed_by", "no provenance signed by " + join(req.key_names) + " (" + found() + ")"};
  if (req.repository || req.branch) {
    if (provenance.empty()) return {false, req.repository ? "provenance.repository" : "provenance.branch",
                                    "no provenance attestation (" + found() + ")"};
    if (req.repository) {
      const std::string want = normalize_repository(*req.repository);
      std::vector<std::string> seen;
      bool ok = false;
      for (const auto* a : provenance) {
        std::string repo = external_parameters(*a).value("repository", "");
        ok = ok || normalize_repository(repo) == want;
        seen.push_back(repo);
      }
      if (!ok) return {false, "provenance.repository", "built from " + join(seen) + ", not " + *req.repository};
    }
    if (req.branch) {
      const std::string want = "refs/heads/" + *req.branch;
      std::vector<std::string> seen;
      bool ok = false;
      for (const auto* a : provenance) {
        json ext = external_parameters(*a);
        if (req.repository && normalize_repository(ext.value("repository", "")) != normalize_repository(*req.repository))
          continue;
        std::string ref = ext.value("ref", "");
        ok = ok || ref == want;
        seen.push_back(ref.empty() ? "(no branch)" : ref);
      }
      if (!ok) return {false, "provenance.branch", "built from " + join(seen) + ", not " + want};
    }
  }
  std::vector<std::string> missing;
  for (const auto& stage : req.passed) {
    bool ok = std::any_of(counted.begin(), counted.end(), [&](const Attestation* a) {
      if (a->predicate_type != kTestResultType) return false;
      const json& p = a->statement.value("predicate", json::object());
      return p.is_object() && p.value("stage", "") == stage && p.value("exitCode", -1) == 0;
    });
    if (!ok) missing.push_back(stage);
  }
  if (!missing.empty())
    return {false, "passed", "no " + std::string(req.signed_by.empty() ? "" : "signed ") +
                                 "test result of stage(s) " + join(missing) + " passing on this digest (" + found() + ")"};
  return {};
}

}  // namespace gantry::attest
