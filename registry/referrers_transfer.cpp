#include "registry/referrers_transfer.h"

#include <set>

#include <nlohmann/json.hpp>

#include "cache/image_store.h"
#include "cache/referrers.h"
#include "registry/blob_transfer.h"
#include "registry/media_types.h"

namespace gantry::registry {

using nlohmann::json;

std::string referrers_tag(const Digest& subject) { return "sha256-" + subject.hex(); }

namespace {

json descriptor_json(const cache::Descriptor& d) { return json::parse(d.to_json()); }

// The referrers the registry lists for `subject`: the referrers API, else the tag schema.
Result<std::vector<json>> remote_referrers(RegistryClient& client, const RegistryRef& ref, const Digest& subject) {
  std::vector<json> out;
  const std::string url = client.base_url() + "/v2/" + ref.repository + "/referrers/" + subject.str();
  auto r = TRY(client.send({.method = "GET", .url = url, .headers = {std::string("Accept: ") + cache::kMediaTypeIndex}},
                           {ref.repository}));
  std::string body;
  if (r.status == 200 && r.header("content-type").value_or("").find(cache::kMediaTypeIndex) != std::string::npos) {
    body = std::move(r.body);
  } else {
    auto tagged = TRY(client.head_manifest(ref.repository, referrers_tag(subject)));
    if (!tagged) return out;
    body = TRY(client.get_manifest(ref.repository, referrers_tag(subject))).bytes;
  }
  json index = json::parse(body, nullptr, false);
  if (index.is_object() && index.contains("manifests") && index["manifests"].is_array())
    for (const auto& m : index["manifests"])
      if (m.is_object()) out.push_back(m);
  return out;
}

}  // namespace

Result<int> push_referrers(cache::Store& store, RegistryClient& client, const RegistryRef& dest, const Digest& subject,
                           Progress& progress) {
  cache::ReferrerStore referrers(store);
  auto list = TRY(referrers.list(subject));
  if (list.empty()) return 0;
  const std::string ctx = "pushing the referrers of " + subject.str() + " to " + dest.str();
  // The ones the registry lists already are not sent again: an image tested
  // by many runs (every run adds its test results) is pushed in one request.
  std::set<std::string> there;
  if (auto remote = remote_referrers(client, dest, subject))
    for (const auto& m : *remote)
      if (m.contains("digest") && m["digest"].is_string()) there.insert(m["digest"].get<std::string>());
  std::erase_if(list, [&](const cache::Descriptor& d) { return there.count(d.digest.str()) > 0; });
  if (list.empty()) return 0;
  bool need_tag_schema = false;
  for (const auto& d : list) {
    const std::string bytes = TRY_CTX(store.blobs().read(d.digest), ctx);
    auto info = TRY_CTX(cache::parse_manifest(bytes), ctx + ": manifest " + d.digest.str());
    std::vector<BlobToPush> blobs{{info.config, info.config_size}};
    for (const auto& l : info.layers) blobs.push_back({l.digest, l.size});
    TRY_CTX(push_blobs(store, client, dest, blobs, progress), ctx);
    const std::string url = client.base_url() + "/v2/" + dest.repository + "/manifests/" + d.digest.str();
    auto r = TRY(client.send({.method = "PUT", .url = url, .headers = {std::string("Content-Type: ") + d.media_type},
                              .body = bytes},
                             {dest.repository}));
    if (r.status != 201 && r.status != 200) return fail(http_error(ctx + ": PUT " + url, r));
    if (!r.header("oci-subject")) need_tag_schema = true;
  }
  if (need_tag_schema) {
    // Merge with what the tag lists already (other clients' referrers stay).
    std::map<std::string, json> merged;
    const std::string tag = referrers_tag(subject);
    if (TRY_CTX(client.head_manifest(dest.repository, tag), ctx)) {
      auto existing = TRY_CTX(client.get_manifest(dest.repository, tag), ctx);
      json index = json::parse(existing.bytes, nullptr, false);
      if (index.is_object() && index.contains("manifests") && index["manifests"].is_array())
        for (const auto& m : index["manifests"])
          if (m.is_object() && m.contains("digest") && m["digest"].is_string()) merged[m["digest"]] = m;
    }
    for (const auto& d : list) merged[d.digest.str()] = descriptor_json(d);
    json manifests = json::array();
    for (auto& [digest, m] : merged) manifests.push_back(std::move(m));
    const std::string index =
        json{{"schemaVersion", 2}, {"mediaType", cache::kMediaTypeIndex}, {"manifests", manifests}}.dump();
    TRY_CTX(client.put_manifest(dest.repository, tag, cache::kMediaTypeIndex, index), ctx + " (referrers tag " + tag + ")");
  }
  return static_cast<int>(list.size());
}

Result<int> pull_referrers(cache::Store& store, RegistryClient& client, const RegistryRef& ref, const Digest& subject,
                           Progress& progress) {
  const std::string ctx = "pulling the referrers of " + subject.str() + " from " + ref.str();
  auto listed = TRY_CTX(remote_referrers(client, ref, subject), ctx);
  cache::ReferrerStore referrers(store);
  int count = 0;
  for (const auto& m : listed) {
    auto digest = Digest::parse(m.value("digest", ""));
    if (!digest) continue;
    auto fetched = TRY_CTX(client.get_manifest(ref.repository, digest->str()), ctx);  // verified against the digest
    auto artifact = cache::parse_artifact(fetched.bytes);
    if (!artifact.subject || artifact.subject->digest != subject) continue;  // not about this image: ignored
    auto info = cache::parse_manifest(fetched.bytes);
    if (!info) continue;
    std::vector<std::pair<Digest, std::uint64_t>> blobs{{info->config, info->config_size}};
    for (const auto& l : info->layers) blobs.push_back({l.digest, l.size});
    bool ok = true;
    for (const auto& [d, size] : blobs) {
      if (size > kMaxReferrerBlob) ok = false;
      if (!ok || store.blobs().has(d)) continue;
      TRY(fetch_blob(store, client, ref, d, size, progress, "referrer blob"));
    }
    if (!ok) continue;
    TRY_CTX(store.blobs().put(fetched.bytes, fetched.digest), ctx);
    TRY_CTX(referrers.record(fetched.digest), ctx);
    ++count;
  }
  return count;
}

}  // namespace gantry::registry
