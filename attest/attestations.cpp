#include "attest/attestations.h"

#include "attest/statements.h"
#include "cache/image_store.h"
#include "cache/store.h"

namespace gantry::attest {

using nlohmann::json;

namespace {

// The subject descriptor of an image manifest in the store.
Result<cache::Descriptor> subject_descriptor(cache::Store& store, const Digest& manifest) {
  auto text = TRY_CTX(store.blobs().read(manifest), "attesting " + manifest.str());
  json j = json::parse(text, nullptr, false);
  std::string media_type = j.is_object() ? j.value("mediaType", "") : "";
  if (media_type.empty()) media_type = cache::kMediaTypeManifest;
  return cache::Descriptor{media_type, manifest, text.size(), "", {}};
}

bool names_subject(const json& statement, const Digest& subject) {
  if (!statement.contains("subject") || !statement["subject"].is_array()) return false;
  for (const auto& s : statement["subject"])
    if (s.is_object() && s.contains("digest") && s["digest"].is_object() &&
        s["digest"].value("sha256", "") == subject.hex())
      return true;
  return false;
}

}  // namespace

Result<cache::Descriptor> attach_statement(cache::Store& store, const Digest& subject, const json& statement,
                                           const SigningKey* key, std::int64_t created_ms) {
  Envelope envelope{kInTotoPayloadType, statement.dump(), {}};
  if (key) TRY(envelope.sign(*key));
  auto descriptor = TRY(subject_descriptor(store, subject));
  std::map<std::string, std::string> annotations = {
      {kPredicateTypeAnnotation, statement.value("predicateType", "")},
      {"org.opencontainers.image.created", rfc3339(created_ms)},
  };
  cache::ReferrerStore referrers(store);
  return referrers.attach(descriptor, kDsseMediaType, envelope.to_json(), kDsseMediaType, annotations);
}

Result<std::vector<Attestation>> load_attestations(cache::Store& store, const Digest& subject,
                                                   const std::vector<SigningKey>& keys) {
  cache::ReferrerStore referrers(store);
  std::vector<Attestation> out;
  for (const auto& d : TRY(referrers.list(subject))) {
    if (d.artifact_type != kDsseMediaType) continue;
    Attestation a;
    a.manifest = d;
    if (auto it = d.annotations.find(kPredicateTypeAnnotation); it != d.annotations.end()) a.predicate_type = it->second;
    if (auto it = d.annotations.find("org.opencontainers.image.created"); it != d.annotations.end()) a.created = it->second;
    auto finish = [&](std::string problem) {
      a.problem = std::move(problem);
      out.push_back(std::move(a));
    };
    auto manifest = store.blobs().read(d.digest);
    if (!manifest) {
      finish("artifact manifest unreadable: " + manifest.error().message());
      continue;
    }
    auto info = cache::parse_manifest(*manifest);
    if (!info || info->layers.empty()) {
      finish("artifact manifest has no envelope layer");
      continue;
    }
    auto blob = store.blobs().read(info->layers.front().digest);
    if (!blob) {
      finish("envelope blob missing: " + blob.error().message());
      continue;
    }
    auto envelope = Envelope::parse(*blob);
    if (!envelope) {
      finish(envelope.error().message());
      continue;
    }
    a.signatures = static_cast<int>(envelope->signatures.size());
    for (const auto& key : keys) {
      if (envelope->verified_by(key)) {
        a.verified_by.push_back(key.id());
        continue;
      }
      for (const auto& s : envelope->signatures)
        if (s.keyid == key.id()) ++a.bad_signatures;
    }
    if (envelope->payload_type != kInTotoPayloadType) {
      finish("payload type " + envelope->payload_type + ", expected " + kInTotoPayloadType);
      continue;
    }
    a.statement = json::parse(envelope->payload, nullptr, false);
    if (a.statement.is_discarded() || !a.statement.is_object()) {
      a.statement = nullptr;
      finish("payload is not JSON");
      continue;
    }
    if (a.statement.value("_type", "") != kStatementType) {
      finish("not an in-toto Statement v1 (_type " + a.statement.value("_type", "") + ")");
      continue;
    }
    a.predicate_type = a.statement.value("predicateType", "");
    if (!names_subject(a.statement, subject)) {
      finish("the statement's subjects do not name " + subject.str());
      continue;
    }
    finish("");
  }
  return out;
}

std::string summarize(const Attestation& a) {
  if (!a.statement.is_object()) return a.predicate_type;
  const json& p = a.statement.contains("predicate") ? a.statement["predicate"] : json::object();
  if (a.predicate_type == kSlsaProvenanceType) {
    json ext = p.is_object() && p.contains("buildDefinition") ? p["buildDefinition"].value("externalParameters", json::object())
                                                               : json::object();
    std::string s = "provenance: image " + ext.value("image", "?") + " from " + ext.value("repository", "?") + " @ " +
                    ext.value("commit", "?").substr(0, 12);
    if (!ext.value("ref", "").empty()) s += " (" + ext.value("ref", "") + ")";
    if (p.contains("runDetails")) s += ", run " + p["runDetails"].value("metadata", json::object()).value("invocationId", "?");
    return s;
  }
  if (a.predicate_type == kTestResultType && p.is_object())
    return "test result: stage " + p.value("stage", "?") + " (" + p.value("environment", "?") + ") exit " +
           std::to_string(p.value("exitCode", -1)) + (p.value("cached", false) ? ", cached" : "") + ", run " +
           p.value("runId", "?");
  if (a.predicate_type == kSpdxType && p.is_object())
    return p.contains("packages") ? "sbom: " + std::to_string(p["packages"].size()) + " dpkg packages"
                                  : "sbom: " + std::to_string(p.contains("files") ? p["files"].size() : 0) + " files";
  return a.predicate_type;
}

}  // namespace gantry::attest
