// pull_image: registry -> store. See transfer.h.
#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cache/image_store.h"
#include "cache/layer_unpacker.h"
#include "cache/layer_writer.h"
#include "registry/blob_locations.h"
#include "registry/media_types.h"
#include "registry/blob_transfer.h"
#include "common/parallel.h"
#include "registry/progress.h"
#include "registry/referrers_transfer.h"
#include "registry/reference.h"
#include "registry/transfer.h"

namespace gantry::registry {
namespace {

// The media type of a manifest or index blob of the store; nullopt (with a
// warning: the blob is damaged, so it is fetched again) when it is not JSON.
std::optional<std::string> json_media_type(const Digest& digest, const std::string& bytes) {
  auto j = nlohmann::json::parse(bytes, nullptr, false);
  if (j.is_discarded()) {
    spdlog::warn("the store's blob {} is not JSON; fetching it from the registry again", digest.str());
    return std::nullopt;
  }
  if (j.is_object() && j.contains("mediaType") && j["mediaType"].is_string()) return j["mediaType"].get<std::string>();
  if (j.is_object() && j.contains("manifests")) return std::string(kOciIndex);
  return std::string(kOciManifest);
}

// The image manifest digest for `digest` when the store holds it whole
// (index -> the linux/amd64 manifest; manifest -> config and every layer).
std::optional<Digest> complete_in_store(cache::Store& store, const Digest& digest, int depth = 0) {
  const auto& blobs = store.blobs();
  if (!blobs.has(digest) || depth > 1) return std::nullopt;
  auto bytes = blobs.read(digest, false);
  if (!bytes) {
    spdlog::warn("cannot read {} from the store ({}); fetching it from the registry again", digest.str(),
                 bytes.error().message());
    return std::nullopt;
  }
  auto media_type = json_media_type(digest, *bytes);
  if (!media_type) return std::nullopt;
  if (is_index_media_type(*media_type)) {
    auto entries = parse_index(*bytes);
    if (!entries) return std::nullopt;
    auto entry = select_platform(*entries, Platform{});
    if (!entry) return std::nullopt;
    return complete_in_store(store, entry->digest, depth + 1);
  }
  auto info = cache::parse_manifest(*bytes);
  if (!info || !blobs.has(info->config)) return std::nullopt;
  for (const auto& l : info->layers)
    if (!blobs.has(l.digest)) return std::nullopt;
  return digest;
}

}  // namespace

Result<PullResult> pull_image(cache::Store& store, const std::string& reference, const RegistryOptions& options) {
  RegistryRef ref = TRY(RegistryRef::parse(reference));
  PullResult result{ref.str(), Digest::of(""), false, {}};
  auto tag_it = [&](const Digest& manifest) -> Status {
    if (!ref.tag.empty()) TRY_CTX(store.images().tag(ref.name(), ref.tag, manifest), "pulling " + ref.str());
    return {};
  };

  // A digest names immutable content: never fetched again once complete.
  if (ref.digest) {
    if (auto local = complete_in_store(store, *ref.digest)) {
      TRY(tag_it(*local));
      result.manifest_digest = *local;
      result.from_store = true;
      return result;
    }
  }

  auto client = TRY_CTX(RegistryClient::connect(ref.host, options, false), "pulling " + ref.str());
  std::string ctx = "pulling " + ref.str();
  FetchedManifest fetched = TRY_CTX(client->get_manifest(ref.repository, ref.manifest_reference()), ctx);
  std::optional<FetchedManifest> index;
  if (is_index_media_type(fetched.media_type)) {
    auto entries = TRY_CTX(parse_index(fetched.bytes), ctx);
    IndexEntry entry = TRY_CTX(select_platform(entries, Platform{}), ctx);
    index = std::move(fetched);
    fetched = TRY_CTX(client->get_manifest(ref.repository, entry.digest.str()), ctx);
    if (fetched.digest != entry.digest)
      return fail(ErrorKind::corrupt, ctx + ": platform manifest digest mismatch");
  }
  if (!is_manifest_media_type(fetched.media_type))
    return fail(ErrorKind::invalid_input, ctx + ": unsupported manifest media type '" + fetched.media_type +
                                              "' (gantry reads OCI and Docker schema 2 image manifests)");
  cache::ManifestInfo info = TRY_CTX(cache::parse_manifest(fetched.bytes), ctx + ": manifest " + fetched.digest.str());
  if (!info.config_media_type.empty() && !is_supported_config_type(info.config_media_type))
    return fail(ErrorKind::invalid_input, ctx + ": unsupported config media type '" + info.config_media_type +
                                              "' (not a container image)");
  for (const auto& l : info.layers)
    if (!is_supported_layer_type(l.media_type))
      return fail(ErrorKind::invalid_input,
                  ctx + ": unsupported layer media type '" + l.media_type + "' (layer " + l.digest.str() + ")");

  Progress progress(options.progress);
  const auto& blobs = store.blobs();
  if (!blobs.has(info.config))
    TRY(fetch_blob(store, *client, ref, info.config, info.config_size, progress, "config"));
  std::string config_json = TRY_CTX(blobs.read(info.config), ctx + ": config");
  cache::ImageConfig config = TRY_CTX(cache::ImageConfig::parse(config_json), ctx + ": config " + info.config.str());
  if (config.diff_ids.size() != info.layers.size())
    return fail(ErrorKind::invalid_input, ctx + ": the config lists " + std::to_string(config.diff_ids.size()) +
                                              " diff_ids for " + std::to_string(info.layers.size()) + " layers");

  // Each layer in turn on one of `parallel` workers: fetched if missing, then
  // checked and unpacked into scratch in one pass as soon as it is here, so
  // unpacking one layer overlaps the download of the others. Every layer's
  // uncompressed content must be its diff_id, also when the blob or
  // layers/<diff_id> was already here: a forged diff_id would otherwise run
  // whatever tree the store holds under that name. Blobs this pull fetched
  // are removed again when a layer is refused.
  std::vector<cache::LayerDescriptor> layers;
  std::vector<std::size_t> missing;
  for (std::size_t i = 0; i < info.layers.size(); ++i) {
    const auto& l = info.layers[i];
    layers.push_back({l.digest, config.diff_ids[i], l.size, l.media_type});
    if (!blobs.has(l.digest)) missing.push_back(i);
  }
  if (store.tmp_dir().empty()) (void)TRY(store.make_temp_dir("unpack-"));  // before the workers ask for it
  std::vector<std::optional<TempDir>> trees(layers.size());
  std::atomic<bool> refused{false};
  auto ingested = for_each_parallel(layers.size(), std::max(options.parallel, 1), [&](std::size_t i) -> Status {
    if (!blobs.has(layers[i].digest)) {
      TRY(fetch_blob(store, *client, ref, layers[i].digest, layers[i].size, progress, "layer"));
    }
    auto tree = cache::check_or_unpack_layer(store, blobs.path(layers[i].digest), layers[i]);
    if (!tree) {
      refused = true;
      return fail(tree.error().context(ctx));
    }
    trees[i] = std::move(*tree);
    return {};
  });
  if (!ingested) {
    if (refused)
      for (std::size_t i : missing) (void)blobs.remove(info.layers[i].digest);
    return fail(ingested.error());
  }
  for (const auto& l : layers) TRY_CTX(cache::record_layer(store, l), ctx);
  for (std::size_t i = 0; i < layers.size(); ++i)
    if (trees[i]) TRY_CTX(cache::publish_unpacked(store, *trees[i], layers[i].diff_id), ctx);
  TRY_CTX(blobs.put(fetched.bytes, fetched.digest), ctx + ": storing the manifest");
  if (index) TRY_CTX(blobs.put(index->bytes, index->digest), ctx + ": storing the index");
  TRY_CTX(store.images().load(fetched.digest), ctx);  // everything it needs is there and parses
  TRY(tag_it(fetched.digest));
  result.referrers = TRY(pull_referrers(store, *client, ref, fetched.digest, progress));

  std::vector<Digest> seen{info.config};
  for (const auto& l : info.layers) seen.push_back(l.digest);
  if (auto locations = BlobLocations::open(store.db()))
    (void)locations->record(ref.host, ref.repository, seen);  // a hint for mounts: best effort

  result.manifest_digest = fetched.digest;
  result.counts = client->stats().snapshot();
  return result;
}

Result<Digest> ensure_image(cache::Store& store, const std::string& reference, const RegistryOptions& options) {
  RegistryRef ref = TRY(RegistryRef::parse(reference));
  if (ref.digest) {
    if (auto local = complete_in_store(store, *ref.digest)) return *local;
  } else if (auto local = store.images().resolve(ref.str())) {
    return *local;
  }
  auto pulled = TRY(pull_image(store, reference, options));
  return pulled.manifest_digest;
}

}  // namespace gantry::registry
