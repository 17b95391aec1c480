// gantry verify IMAGE --key PUB.pem [--json]: the attestations of an image
// (attest/attestations.h), whether each signature verifies, and a summary.
// Exit 1 when no provenance of the image is signed by one of the keys, when
// an attestation is malformed or carries a signature of one of the keys that
// does not verify (tampered), or when a --passed / --repository / --branch
// rule (attest/policy.h) fails.
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "attest/attestations.h"
#include "attest/policy.h"
#include "attest/statements.h"
#include "cache/image_store.h"
#include "cache/store.h"
#include "runner/cli.h"
#include "runner/store_open.h"

namespace gantry::runner {

namespace {

using nlohmann::json;

struct VerifyFlags {
  std::string image;
  std::vector<std::string> keys;
  std::vector<std::string> passed;
  std::string repository;
  std::string branch;
  std::string project;
  bool json = false;
};

int cmd_verify(const GlobalOptions& global, const VerifyFlags& f) {
  attest::Requirement req;
  for (const auto& path : f.keys) {
    auto key = attest::SigningKey::load(path);
    if (!key) return report_error(key.error().context("--key"));
    req.signed_by.push_back(std::move(*key));
    req.key_names.push_back(path);
  }
  req.passed = f.passed;
  if (!f.repository.empty()) req.repository = f.repository;
  if (!f.branch.empty()) req.branch = f.branch.starts_with("refs/heads/") ? f.branch.substr(11) : f.branch;

  auto store = cache::Store::open(global.store_dir);
  if (!store) return report_error(store.error());
  auto digest = (*store)->images().resolve(f.image, cache::TagScope::from_flag(f.project));
  if (!digest) return report_error(digest.error().context("verify " + f.image));
  auto attestations = attest::load_attestations(**store, *digest, req.signed_by);
  if (!attestations) return report_error(attestations.error());

  attest::Verdict verdict = attest::check_requirement(*attestations, req);
  std::vector<std::string> faults;
  for (const auto& a : *attestations) {
    if (!a.problem.empty()) faults.push_back(a.manifest.digest.str() + ": " + a.problem);
    else if (a.bad_signatures > 0 && a.verified_by.empty())
      faults.push_back(a.manifest.digest.str() + ": a signature naming a given key does not verify (tampered)");
  }
  if (!verdict.ok) faults.insert(faults.begin(), "rule " + verdict.rule + ": " + verdict.detail);
  const bool ok = faults.empty();

  int verified = 0, provenance = 0;
  std::vector<std::string> stages;
  json list = json::array();
  for (const auto& a : *attestations) {
    if (a.trusted()) ++verified;
    if (a.trusted() && a.predicate_type == attest::kSlsaProvenanceType) ++provenance;
    if (a.trusted() && a.predicate_type == attest::kTestResultType)
      stages.push_back(a.statement["predicate"].value("stage", ""));
    list.push_back({{"manifest", a.manifest.digest.str()},
                    {"predicateType", a.predicate_type},
                    {"created", a.created},
                    {"signatures", a.signatures},
                    {"verified", a.trusted()},
                    {"verifiedBy", a.verified_by},
                    {"problem", a.problem},
                    {"summary", attest::summarize(a)},
                    {"statement", a.statement}});
  }
  if (f.json) {
    json keys = json::array();
    for (std::size_t i = 0; i < req.signed_by.size(); ++i)
      keys.push_back({{"path", req.key_names[i]}, {"keyid", req.signed_by[i].id()}});
    json out = {{"image", f.image},
                {"digest", digest->str()},
                {"keys", keys},
                {"attestations", list},
                {"summary",
                 {{"attestations", attestations->size()},
                  {"verified", verified},
                  {"provenance", provenance},
                  {"passedStages", stages},
                  {"ok", ok},
                  {"faults", faults}}}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << f.image << " " << digest->str() << ": " << attestations->size() << " attestation(s)\n";
    for (const auto& a : *attestations) {
      std::string state = !a.problem.empty()         ? "MALFORMED (" + a.problem + ")"
                          : a.trusted()              ? "verified"
                          : a.bad_signatures > 0     ? "BAD SIGNATURE"
                          : a.signatures == 0        ? "unsigned"
                                                     : "signed by another key";
      std::cout << "  " << a.manifest.digest.short_hex() << "  " << state << "  " << attest::summarize(a) << "\n";
    }
    std::cout << (ok ? "OK" : "FAILED") << ": " << verified << " verified, " << provenance << " provenance";
    if (!stages.empty()) {
      std::cout << ", passed:";
      for (const auto& s : stages) std::cout << " " << s;
    }
    std::cout << "\n";
    for (const auto& fault : faults) std::cerr << "gantry: verify " << f.image << ": " << fault << "\n";
  }
  return ok ? kExitOk : kExitFailure;
}

}  // namespace

void add_verify_commands(Cli& cli) {
  auto flags = std::make_shared<VerifyFlags>();
  auto* cmd = cli.app.add_subcommand(
      "verify", "Check the attestations of an image (provenance, test results) against public keys.\n"
                "Exit 1 when no provenance is signed by a key, an attestation is malformed or tampered,\n"
                "or a --passed/--repository/--branch rule fails (docs/attestations.md).");
  cmd->add_option("image", flags->image, "Image: a store reference or sha256:<manifest digest>")->required();
  cmd->add_option("--key", flags->keys, "Public key (gantry.pub) whose signatures count (repeatable)")->required();
  cmd->add_option("--passed", flags->passed, "Require a signed test result of this stage (repeatable)");
  cmd->add_option("--repository", flags->repository, "Require provenance from this repository");
  cmd->add_option("--branch", flags->branch, "Require provenance from this branch");
  cmd->add_option("--project", flags->project,
                  "Resolve NAME:TAG among this project's build tags (default: the store-wide tag, else the only "
                  "project's)");
  cmd->add_flag("--json", flags->json, "Print the attestations and the summary as JSON");
  cmd->callback([&cli, flags] { cli.action = [&cli, flags] { return cmd_verify(cli.global, *flags); }; });
}

}  // namespace gantry::runner
