#include "registry/blob_transfer.h"

#include <fcntl.h>

#include "common/unique_fd.h"
#include "registry/blob_locations.h"
#include "common/parallel.h"

namespace gantry::registry {

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

Status push_blobs(cache::Store& store, RegistryClient& client, const RegistryRef& dest,
                  const std::vector<BlobToPush>& blobs, Progress& progress) {
  auto locations = BlobLocations::open(store.db());
  TRY(for_each_parallel(blobs.size(), client.options().parallel, [&](std::size_t i) -> Status {
    std::vector<std::string> mount_from;
    if (locations) {
      if (auto repos = locations->repositories_with(dest.host, blobs[i].digest, dest.repository)) mount_from = *repos;
    }
    return push_blob(store, client, dest, blobs[i], mount_from, progress);
  }));
  if (locations) {
    std::vector<Digest> all;
    for (const auto& b : blobs) all.push_back(b.digest);
    (void)locations->record(dest.host, dest.repository, all);  // a hint for later mounts: best effort
  }
  return {};
}

Status fetch_blob(cache::Store& store, RegistryClient& client, const RegistryRef& ref, const Digest& digest,
                  std::uint64_t size, Progress& progress, const std::string& what) {
  int line = progress.add(digest.short_hex(), size);
  auto writer = TRY(store.blobs().writer());
  std::uint64_t got = 0;
  auto sink = [&](std::string_view chunk) -> Status {
    got += chunk.size();
    if (got > size)
      return fail(ErrorKind::corrupt, "more bytes than the " + std::to_string(size) + " its descriptor says");
    return writer.write(chunk);
  };
  auto on_progress = [&](std::uint64_t done) { progress.update(line, done); };
  std::string ctx = "pulling " + ref.str() + ": " + what + " " + digest.str();
  if (auto st = client.get_blob(ref.repository, digest, sink, on_progress); !st) {
    progress.finish(line, "failed");
    return fail(st.error().context(ctx));
  }
  if (got != size) {
    progress.finish(line, "failed");
    return fail(ErrorKind::corrupt, ctx + ": truncated: got " + std::to_string(got) + " of " + std::to_string(size) + " bytes");
  }
  if (auto committed = writer.commit(digest); !committed) {
    progress.finish(line, "failed");
    return fail(committed.error().context(ctx));
  }
  ++client.stats().blobs_downloaded;
  client.stats().bytes_downloaded += size;
  progress.finish(line, "done");
  return {};
}

}  // namespace gantry::registry
