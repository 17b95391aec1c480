#include "cache/referrers.h"

#include <algorithm>
#include <tuple>

#include <nlohmann/json.hpp>

#include "cache/image_store.h"
#include "cache/store.h"
#include "common/file_util.h"

namespace gantry::cache {

using nlohmann::json;

namespace {

json descriptor_json(const Descriptor& d) {
  json j = {{"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
  if (!d.artifact_type.empty()) j["artifactType"] = d.artifact_type;
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  return j;
}

std::optional<Descriptor> descriptor_from(const json& j) {
  if (!j.is_object() || !j.contains("digest") || !j["digest"].is_string()) return std::nullopt;
  auto digest = Digest::parse(j["digest"].get<std::string>());
  if (!digest) return std::nullopt;
  Descriptor d{j.value("mediaType", ""), *digest, 0, j.value("artifactType", ""), {}};
  if (j.contains("size") && j["size"].is_number_unsigned()) d.size = j["size"].get<std::uint64_t>();
  if (j.contains("annotations") && j["annotations"].is_object())
    for (const auto& [k, v] : j["annotations"].items())
      if (v.is_string()) d.annotations[k] = v.get<std::string>();
  return d;
}

}  // namespace

std::string Descriptor::to_json() const { return descriptor_json(*this).dump(); }

Result<Descriptor> Descriptor::parse(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  auto d = descriptor_from(j);
  if (!d) return fail(ErrorKind::corrupt, "not an OCI descriptor (mediaType, digest, size)");
  return *d;
}

ArtifactInfo parse_artifact(const std::string& manifest_json) {
  ArtifactInfo info;
  json j = json::parse(manifest_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return info;
  if (j.contains("subject")) info.subject = descriptor_from(j["subject"]);
  info.artifact_type = j.value("artifactType", "");
  // As the referrers API does: without artifactType, the config's media type.
  if (info.artifact_type.empty() && j.contains("config") && j["config"].is_object())
    info.artifact_type = j["config"].value("mediaType", "");
  if (j.contains("annotations") && j["annotations"].is_object())
    for (const auto& [k, v] : j["annotations"].items())
      if (v.is_string()) info.annotations[k] = v.get<std::string>();
  return info;
}

Result<Descriptor> ReferrerStore::attach(const Descriptor& subject, const std::string& artifact_type,
                                         const std::string& blob, const std::string& blob_media_type,
                                         const std::map<std::string, std::string>& annotations) {
  const auto& blobs = store_.blobs();
  Digest empty = TRY(blobs.put("{}"));
  Digest layer = TRY(blobs.put(blob));
  json manifest = {
      {"schemaVersion", 2},
      {"mediaType", kMediaTypeManifest},
      {"artifactType", artifact_type},
      {"config", descriptor_json({kMediaTypeEmpty, empty, 2, "", {}})},
      {"layers", json::array({descriptor_json({blob_media_type, layer, blob.size(), "", {}})})},
      {"subject", descriptor_json({subject.media_type, subject.digest, subject.size, "", {}})},
  };
  if (!annotations.empty()) manifest["annotations"] = annotations;
  const std::string text = manifest.dump();
  Digest digest = TRY(blobs.put(text));
  Descriptor d{kMediaTypeManifest, digest, text.size(), artifact_type, annotations};
  const std::string dir = store_.paths().referrers_of(subject.digest);
  TRY(make_dirs(dir));
  TRY(write_file_atomic(dir + "/" + digest.hex(), d.to_json(), dir));
  return d;
}

Result<Descriptor> ReferrerStore::record(const Digest& artifact_manifest) {
  auto text = TRY(store_.blobs().read(artifact_manifest));
  ArtifactInfo info = parse_artifact(text);
  if (!info.subject)
    return fail(ErrorKind::invalid_input, "manifest " + artifact_manifest.str() + " has no subject: not a referrer");
  Descriptor d{kMediaTypeManifest, artifact_manifest, text.size(), info.artifact_type, info.annotations};
  const std::string dir = store_.paths().referrers_of(info.subject->digest);
  TRY(make_dirs(dir));
  TRY(write_file_atomic(dir + "/" + artifact_manifest.hex(), d.to_json(), dir));
  return d;
}

Result<std::vector<Descriptor>> ReferrerStore::list(const Digest& subject) const {
  std::vector<Descriptor> out;
  const std::string dir = store_.paths().referrers_of(subject);
  auto names = list_dir(dir);
  if (!names) {
    if (names.error().kind() == ErrorKind::not_found) return out;
    return fail(std::move(names).error());
  }
  for (const auto& name : *names) {
    auto hex = Digest::from_hex(name);
    if (!hex || !store_.blobs().has(*hex)) continue;  // a temp file, or gone with gc
    auto text = read_file(dir + "/" + name);
    if (!text) continue;
    auto d = Descriptor::parse(*text);
    if (d && d->digest == *hex) out.push_back(std::move(*d));
  }
  std::sort(out.begin(), out.end(), [](const Descriptor& a, const Descriptor& b) {
    return std::tie(a.artifact_type, a.digest) < std::tie(b.artifact_type, b.digest);
  });
  return out;
}

Result<std::string> ReferrerStore::index_json(const Digest& subject) const {
  json manifests = json::array();
  for (const auto& d : TRY(list(subject))) manifests.push_back(descriptor_json(d));
  return json{{"schemaVersion", 2}, {"mediaType", kMediaTypeIndex}, {"manifests", manifests}}.dump();
}

Result<std::vector<Digest>> ReferrerStore::subjects() const {
  std::vector<Digest> out;
  auto names = list_dir(store_.paths().referrers_dir());
  if (!names) {
    if (names.error().kind() == ErrorKind::not_found) return out;
    return fail(std::move(names).error());
  }
  for (const auto& name : *names)
    if (auto d = Digest::from_hex(name)) out.push_back(*d);
  return out;
}

Status ReferrerStore::forget_subject(const Digest& subject) {
  return remove_tree(store_.paths().referrers_of(subject));
}

}  // namespace gantry::cache
