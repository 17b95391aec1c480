// push_image: store -> registry. See transfer.h.
#include <nlohmann/json.hpp>

#include "cache/image_store.h"
#include "registry/blob_transfer.h"
#include "registry/media_types.h"
#include "registry/progress.h"
#include "registry/referrers_transfer.h"
#include "registry/reference.h"
#include "registry/transfer.h"

namespace gantry::registry {
namespace {

// parse_manifest() already read the manifest's mediaType (empty when the
// manifest has none, which OCI allows): that is the one to send.
std::string manifest_media_type(const cache::ManifestInfo& info) {
  return info.media_type.empty() ? std::string(kOciManifest) : info.media_type;
}

}  // namespace

Result<PushResult> push_image(cache::Store& store, const std::string& image, const std::string& destination,
                              const RegistryOptions& options) {
  RegistryRef dest = TRY(RegistryRef::parse(destination));
  std::string ctx = "pushing " + image + " to " + dest.str();
  Digest manifest = TRY_CTX(store.images().resolve(image), ctx);
  std::string bytes = TRY_CTX(store.blobs().read(manifest), ctx + ": manifest");
  cache::ManifestInfo info = TRY_CTX(cache::parse_manifest(bytes), ctx + ": manifest " + manifest.str());
  std::string media_type = manifest_media_type(info);
  if (dest.digest && *dest.digest != manifest)
    return fail(ErrorKind::invalid_input, ctx + ": the destination names digest " + dest.digest->str() +
                                              " but the image is " + manifest.str());

  std::vector<BlobToPush> blobs{{info.config, info.config_size}};
  for (const auto& l : info.layers) {
    bool dup = false;
    for (const auto& b : blobs) dup = dup || b.digest == l.digest;
    if (!dup) blobs.push_back({l.digest, l.size});
  }
  for (const auto& b : blobs)
    if (!store.blobs().has(b.digest))
      return fail(ErrorKind::not_found, ctx + ": blob " + b.digest.str() + " is missing from the store (run gantry fsck)");

  auto client = TRY_CTX(RegistryClient::connect(dest.host, options, true), ctx);
  PushResult result{dest.str(), manifest, false, {}};

  // The repository already holds this exact manifest (so all its blobs):
  // only the tag needs writing.
  auto remote = TRY_CTX(client->head_manifest(dest.repository, manifest.str()), ctx);
  Progress progress(options.progress);
  if (remote && *remote == manifest) {
    result.tag_only = true;
  } else {
    TRY(push_blobs(store, *client, dest, blobs, progress));
  }
  std::string tag = dest.tag.empty() ? manifest.str() : dest.tag;
  Digest pushed = TRY_CTX(client->put_manifest(dest.repository, tag, media_type, bytes), ctx);
  if (pushed != manifest)
    return fail(ErrorKind::corrupt, ctx + ": registry digest " + pushed.str() + " differs from " + manifest.str());
  // After the image: a referrer's subject must exist (registries may check).
  if (options.referrers) result.referrers = TRY(push_referrers(store, *client, dest, manifest, progress));
  result.counts = client->stats().snapshot();
  return result;
}

}  // namespace gantry::registry
