// export_step_cache / import_step_cache: see step_cache_share.h.
#include "registry/step_cache_share.h"

#include <ctime>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "cache/image_store.h"
#include "cache/layer_unpacker.h"
#include "cache/layer_writer.h"
#include "cache/metadata.h"
#include "registry/blob_transfer.h"
#include "registry/media_types.h"
#include "common/parallel.h"
#include "registry/reference.h"

namespace gantry::registry {
namespace {

using nlohmann::json;

Result<RegistryRef> parse_repository(const std::string& text) {
  auto last = text.rfind('/');
  if (text.find('@') != std::string::npos || (last != std::string::npos && text.find(':', last) != std::string::npos))
    return fail(ErrorKind::invalid_input,
                "cache repository '" + text + "' must be HOST[:PORT]/REPO, without a tag or digest");
  RegistryRef ref = TRY(RegistryRef::parse(text));
  ref.tag.clear();
  return ref;
}

json layer_json(const cache::LayerDescriptor& l) {
  return {{"digest", l.digest.str()}, {"diff_id", l.diff_id.str()}, {"size", l.size}, {"media_type", l.media_type}};
}

Result<cache::StepCacheEntry> entry_from_json(const json& e) {
  try {
    cache::StepCacheEntry out{TRY(Digest::parse(e.at("key").get<std::string>())), e.at("record").get<std::string>(),
                              std::nullopt, {}, e.value("image", std::string()), e.value("step_index", 0),
                              e.value("created", std::int64_t{0})};
    if (e.contains("layer") && e["layer"].is_object()) {
      const auto& l = e["layer"];
      out.layer = cache::LayerDescriptor{TRY(Digest::parse(l.at("digest").get<std::string>())),
                                         TRY(Digest::parse(l.at("diff_id").get<std::string>())),
                                         l.at("size").get<std::uint64_t>(), l.at("media_type").get<std::string>()};
      if (!is_supported_layer_type(out.layer->media_type))
        return fail(ErrorKind::invalid_input, "unsupported layer media type '" + out.layer->media_type + "'");
    }
    out.config_change = TRY(cache::ConfigChange::parse(e.value("config_change", std::string("{}"))));
    return out;
  } catch (const json::exception& ex) {
    return fail(ErrorKind::invalid_input, std::string("bad cache entry: ") + ex.what());
  }
}

}  // namespace

Result<CacheExportResult> export_step_cache(cache::Store& store, const std::string& repository,
                                            const RegistryOptions& options) {
  RegistryRef ref = TRY(parse_repository(repository));
  std::string ctx = "exporting the step cache to " + ref.name();
  cache::Metadata& meta = store.metadata();
  auto keys = TRY_CTX(meta.step_keys(), ctx);
  std::sort(keys.begin(), keys.end());

  json entries = json::array();
  std::map<Digest, cache::LayerDescriptor> layers;
  for (const auto& key : keys) {
    auto entry = TRY_CTX(meta.find_step(key), ctx);
    if (!entry) continue;
    if (entry->layer && !store.blobs().has(entry->layer->digest)) continue;  // gc'd behind the cache's back
    json e = {{"key", entry->key.str()},         {"record", entry->record},
              {"layer", nullptr},                {"config_change", entry->config_change.to_json()},
              {"image", entry->image},           {"step_index", entry->step_index},
              {"created", entry->created}};
    if (entry->layer) {
      e["layer"] = layer_json(*entry->layer);
      layers.emplace(entry->layer->digest, *entry->layer);
    }
    entries.push_back(std::move(e));
  }
  CacheExportResult result{ref.name(), Digest::of(""), entries.size(), layers.size(), {}};
  if (entries.empty()) return result;

  std::string config = json{{"format", kStepCacheArtifactFormat}, {"entries", entries}}.dump();
  Digest config_digest = TRY_CTX(store.blobs().put(config), ctx + ": storing the cache config");
  std::vector<BlobToPush> blobs{{config_digest, config.size()}};
  json jl = json::array();
  for (const auto& [digest, l] : layers) {
    blobs.push_back({digest, l.size});
    jl.push_back({{"mediaType", l.media_type}, {"digest", digest.str()}, {"size", l.size}});
  }
  std::string manifest =
      json{{"schemaVersion", 2},
           {"mediaType", kOciManifest},
           {"artifactType", kStepCacheConfigType},
           {"config", {{"mediaType", kStepCacheConfigType}, {"digest", config_digest.str()}, {"size", config.size()}}},
           {"layers", jl}}
          .dump();
  Digest manifest_digest = Digest::of(manifest);
  std::string tag = std::string(kStepCacheTagPrefix) + config_digest.hex().substr(0, 32);
  result.reference = ref.name() + ":" + tag;
  result.manifest_digest = manifest_digest;

  auto client = TRY_CTX(RegistryClient::connect(ref.host, options, true), ctx);
  auto remote = TRY_CTX(client->head_manifest(ref.repository, tag), ctx);
  if (!remote || *remote != manifest_digest) {
    Progress progress(options.progress);
    TRY_CTX(push_blobs(store, *client, ref, blobs, progress), ctx);
    TRY_CTX(client->put_manifest(ref.repository, tag, kOciManifest, manifest), ctx);
  }
  result.counts = client->stats().snapshot();
  return result;
}

Result<CacheImportResult> import_step_cache(cache::Store& store, const std::string& repository,
                                            const RegistryOptions& options) {
  RegistryRef ref = TRY(parse_repository(repository));
  std::string ctx = "importing the step cache from " + ref.name();
  auto client = TRY_CTX(RegistryClient::connect(ref.host, options, false), ctx);
  cache::Metadata& meta = store.metadata();
  CacheImportResult result;
  Progress progress(options.progress);

  std::vector<std::pair<cache::StepCacheEntry, json>> fresh;
  for (const auto& tag : TRY_CTX(client->list_tags(ref.repository), ctx)) {
    if (!tag.starts_with(kStepCacheTagPrefix)) continue;
    std::string what = ctx + ":" + tag;
    auto m = TRY_CTX(client->get_manifest(ref.repository, tag), what);
    auto info = TRY_CTX(cache::parse_manifest(m.bytes), what);
    if (info.config_media_type != kStepCacheConfigType) continue;  // not ours
    ++result.artifacts;
    if (!store.blobs().has(info.config))
      TRY(fetch_blob(store, *client, ref, info.config, info.config_size, progress, "cache config"));
    std::string config = TRY_CTX(store.blobs().read(info.config), what);
    json doc = json::parse(config, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || doc.value("format", 0) != kStepCacheArtifactFormat ||
        !doc.contains("entries") || !doc["entries"].is_array())
      return fail(ErrorKind::invalid_input, what + ": not a format-" + std::to_string(kStepCacheArtifactFormat) +
                                                " step-cache document");
    for (const auto& e : doc["entries"]) {
      auto entry = TRY_CTX(entry_from_json(e), what);
      bool deferred = TRY_CTX(meta.find_deferred_step(entry.key), what).has_value();
      if (deferred || TRY_CTX(meta.find_step(entry.key), what)) {
        ++result.entries_known;
        continue;
      }
      if (std::any_of(fresh.begin(), fresh.end(), [&](const auto& f) { return f.first.key == entry.key; })) continue;
      fresh.emplace_back(std::move(entry), e);
    }
  }

  const bool insecure = std::find(options.insecure_registries.begin(), options.insecure_registries.end(), ref.host) !=
                        options.insecure_registries.end();
  std::vector<cache::DeferredStep> deferred;
  for (const auto& [entry, raw] : fresh) {
    if (entry.layer && !store.blobs().has(entry.layer->digest)) {
      deferred.push_back({.key = entry.key,
                          .entry = raw.dump(),
                          .registry = ref.host,
                          .repository = ref.repository,
                          .insecure = insecure,
                          .created = static_cast<std::int64_t>(std::time(nullptr))});
      ++result.entries_deferred;
      ++result.entries_added;
      continue;
    }
    // A layer the store holds already is checked against the diff_id this
    // entry names: it is the tree a later step runs on.
    if (entry.layer) {
      TRY_CTX(cache::verify_layer_file(store, store.blobs().path(entry.layer->digest), *entry.layer), ctx);
      TRY_CTX(cache::record_layer(store, *entry.layer), ctx);
    }
    TRY_CTX(meta.put_step(entry), ctx);
    ++result.entries_added;
  }
  TRY_CTX(meta.defer_steps(deferred), ctx);
  result.counts = client->stats().snapshot();
  return result;
}

Result<std::optional<cache::StepCacheEntry>> resolve_deferred_entry(cache::Store& store, const Digest& key,
                                                                    RegistryOptions options) {
  auto row = TRY(store.metadata().find_deferred_step(key));
  if (!row) return std::optional<cache::StepCacheEntry>();
  json raw = json::parse(row->entry, nullptr, false);
  const std::string& host = row->registry;
  const std::string& repository = row->repository;
  const bool insecure = row->insecure;
  std::string ctx = "fetching the cached layer of step " + key.short_hex() + " from " + host + "/" + repository;
  auto entry = TRY_CTX(entry_from_json(raw), ctx);
  if (entry.key != key) return fail(ErrorKind::corrupt, ctx + ": the deferred entry names key " + entry.key.str());
  if (insecure) options.insecure_registries.push_back(host);
  TRY_CTX(fetch_step_layer(store, entry, host + "/" + repository, options), ctx);
  TRY_CTX(store.metadata().adopt_deferred_step(entry), ctx);
  return std::optional<cache::StepCacheEntry>(std::move(entry));
}

Status fetch_step_layer(cache::Store& store, const cache::StepCacheEntry& entry, const std::string& repository,
                        RegistryOptions options) {
  if (!entry.layer) return {};
  const std::string ctx = "the cached layer " + entry.layer->digest.short_hex() + " of step " + entry.key.short_hex();
  if (!store.blobs().has(entry.layer->digest)) {
    options.progress = false;
    RegistryRef ref = TRY(parse_repository(repository));
    auto client = TRY_CTX(RegistryClient::connect(ref.host, options, false), ctx + " from " + repository);
    Progress progress(false);
    TRY(fetch_blob(store, *client, ref, entry.layer->digest, entry.layer->size, progress, "cached layer"));
  }
  // The uncompressed content must be the diff_id the entry names (a shared
  // cache may be hostile): a forged layer is removed and never recorded.
  if (auto verified = cache::verify_layer_file(store, store.blobs().path(entry.layer->digest), *entry.layer);
      !verified) {
    if (auto removed = store.blobs().remove(entry.layer->digest); !removed)
      return fail(removed.error().context(ctx + ": removing the refused layer"));
    return fail(verified.error().context(ctx));
  }
  TRY_CTX(cache::record_layer(store, *entry.layer), ctx);
  return {};
}

}  // namespace gantry::registry
