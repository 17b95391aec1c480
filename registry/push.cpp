// push_image: store -> registry. See transfer.h.
#include <fcntl.h>

#include <nlohmann/json.hpp>

#include "cache/image_store.h"
#include "common/unique_fd.h"
#include "registry/blob_locations.h"
#include "registry/media_types.h"
#include "registry/parallel.h"
#include "registry/progress.h"
#include "registry/reference.h"
#include "registry/transfer.h"

namespace gantry::registry {
namespace {

struct BlobToPush {
  Digest digest;
  std::uint64_t size;
};

// One blob: present (HEAD) -> nothing; known elsewhere -> mount; else upload.
Status push_blob(cache::Store& store, RegistryClient& client, const RegistryRef& dest, const BlobToPush& blob,
                 const std::vector<std::string>& mount_from, Progress& progress) {
  std::string ctx = "pushing to " + dest.str() + ": blob " + blob.digest.str();
  int line = progress.add(blob.digest.short_hex(), blob.size);
  if (TRY_CTX(client.has_blob(dest.repository, blob.digest), ctx)) {
    ++client.stats().blobs_present;
    progress.finish(line, "exists");
    return {};
  }
  for (const auto& from : mount_from) {
    if (TRY_CTX(client.mount_blob(dest.repository, blob.digest, from), ctx + " (mount from " + from + ")")) {
      progress.finish(line, "mounted");
      return {};
    }
  }
  std::string path = store.blobs().path(blob.digest);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail(sys_error("open", path).context(ctx));
  auto st = client.upload_blob(dest.repository, blob.digest, fd.get(), blob.size,
                               [&](std::uint64_t done) { progress.update(line, done); });
  progress.finish(line, st ? "done" : "failed");
  if (!st) return fail(st.error().context(ctx));
  return {};
}

std::string manifest_media_type(const std::string& bytes, const std::string& parsed) {
  if (!parsed.empty()) return parsed;
  try {
    auto j = nlohmann::json::parse(bytes);
    if (j.is_object() && j.contains("mediaType") && j["mediaType"].is_string()) return j["mediaType"];
  } catch (const nlohmann::json::exception&) {
  }
  return kOciManifest;
}

}  // namespace

Result<PushResult> push_image(cache::Store& store, const std::string& image, const std::string& destination,
                              const RegistryOptions& options) {
  RegistryRef dest = TRY(RegistryRef::parse(destination));
  std::string ctx = "pushing " + image + " to " + dest.str();
  Digest manifest = TRY_CTX(store.images().resolve(image), ctx);
  std::string bytes = TRY_CTX(store.blobs().read(manifest), ctx + ": manifest");
  cache::ManifestInfo info = TRY_CTX(cache::parse_manifest(bytes), ctx + ": manifest " + manifest.str());
  std::string media_type = manifest_media_type(bytes, info.media_type);
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
  auto locations = BlobLocations::open(store.db());

  // The repository already holds this exact manifest (so all its blobs):
  // only the tag needs writing.
  auto remote = TRY_CTX(client->head_manifest(dest.repository, manifest.str()), ctx);
  if (remote && *remote == manifest) {
    result.tag_only = true;
  } else {
    Progress progress(options.progress);
    TRY(for_each_parallel(blobs.size(), options.parallel, [&](std::size_t i) -> Status {
      std::vector<std::string> mount_from;
      if (locations) {
        if (auto repos = locations->repositories_with(dest.host, blobs[i].digest, dest.repository)) mount_from = *repos;
      }
      return push_blob(store, *client, dest, blobs[i], mount_from, progress);
    }));
  }
  std::string tag = dest.tag.empty() ? manifest.str() : dest.tag;
  Digest pushed = TRY_CTX(client->put_manifest(dest.repository, tag, media_type, bytes), ctx);
  if (pushed != manifest)
    return fail(ErrorKind::corrupt, ctx + ": registry digest " + pushed.str() + " differs from " + manifest.str());
  if (locations && !result.tag_only) {
    std::vector<Digest> all;
    for (const auto& b : blobs) all.push_back(b.digest);
    (void)locations->record(dest.host, dest.repository, all);  // a hint for later mounts: best effort
  }
  result.counts = client->stats().snapshot();
  return result;
}

}  // namespace gantry::registry
