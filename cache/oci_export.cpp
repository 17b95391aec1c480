// gantry image export: an OCI image layout directory (created, or merged
// into an existing layout) or an OCI archive (DEST ending in .tar), written
// to a temp name and renamed, so DEST is never half-written.
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <memory>
#include <nlohmann/json.hpp>

#include "cache/image_store.h"
#include "cache/oci_transfer.h"
#include "cache/referrers.h"
#include "cache/store.h"

namespace gantry::cache {

using nlohmann::json;

namespace {

constexpr const char* kRefNameAnnotation = "org.opencontainers.image.ref.name";
constexpr const char* kOciLayout = "{\"imageLayoutVersion\":\"1.0.0\"}";

Status copy_file(const std::string& from, const std::string& to) {
  std::string tmp = to + ".tmp-" + unique_suffix();
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return fail_sys("open", from);
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!out) return fail_sys("create", tmp);
  auto buf = std::make_unique<std::array<char, 1 << 17>>();
  for (;;) {
    ssize_t n = ::read(in.get(), buf->data(), buf->size());
    if (n < 0) {
      if (errno == EINTR) continue;
      ::unlink(tmp.c_str());
      return fail_sys("read", from);
    }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out.get(), buf->data() + off, static_cast<std::size_t>(n - off));
      if (w < 0) {
        if (errno == EINTR) continue;
        ::unlink(tmp.c_str());
        return fail_sys("write", tmp);
      }
      off += w;
    }
  }
  if (::fsync(out.get()) != 0 || ::rename(tmp.c_str(), to.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail_sys("write", to, err);
  }
  return {};
}

struct ExportSet {
  Digest manifest;
  std::string manifest_media_type;
  std::uint64_t manifest_size;
  std::vector<Digest> blobs;  // manifest, config, layers (and those of its referrers)
  std::vector<json> referrers;  // index entries of the image's referrers (attestations)
};

Result<ExportSet> collect(Store& store, const Digest& manifest) {
  std::string text = TRY(store.blobs().read(manifest));
  ManifestInfo m = TRY_CTX(parse_manifest(text), "manifest " + manifest.str());
  ExportSet set{manifest, m.media_type.empty() ? kMediaTypeManifest : m.media_type, text.size(), {manifest, m.config}};
  for (const auto& l : m.layers) set.blobs.push_back(l.digest);
  for (const auto& d : set.blobs)
    if (!store.blobs().has(d)) return fail(ErrorKind::corrupt, "image " + manifest.str() + " names blob " + d.str() + ", which is missing from the store");
  // The image's referrers go along, listed in index.json without a ref name
  // (their manifests' subject ties them to the image; an importer finds them
  // there).
  ReferrerStore referrers(store);
  for (const auto& r : TRY(referrers.list(manifest))) {
    auto rtext = store.blobs().read(r.digest);
    if (!rtext) continue;
    auto rm = parse_manifest(*rtext);
    if (!rm) continue;
    std::vector<Digest> blobs{r.digest, rm->config};
    for (const auto& l : rm->layers) blobs.push_back(l.digest);
    if (!std::all_of(blobs.begin(), blobs.end(), [&](const Digest& d) { return store.blobs().has(d); })) continue;
    set.blobs.insert(set.blobs.end(), blobs.begin(), blobs.end());
    set.referrers.push_back(json::parse(r.to_json()));
  }
  return set;
}

json index_entry(const ExportSet& set, const std::string& ref_name) {
  json e = {{"mediaType", set.manifest_media_type}, {"digest", set.manifest.str()}, {"size", set.manifest_size}};
  if (!ref_name.empty()) e["annotations"] = {{kRefNameAnnotation, ref_name}};
  return e;
}

Status export_dir(Store& store, const ExportSet& set, const std::string& dest, const std::string& ref_name) {
  struct stat st {};
  json index = {{"schemaVersion", 2}, {"mediaType", kMediaTypeIndex}, {"manifests", json::array()}};
  if (::stat(dest.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return fail(ErrorKind::invalid_input, "export: " + dest + " exists and is not a directory");
    bool layout = ::access((dest + "/oci-layout").c_str(), F_OK) == 0;
    if (layout) {
      auto text = TRY(read_file(dest + "/index.json"));
      json old = json::parse(text, nullptr, false);
      if (old.is_discarded() || !old.is_object() || !old.contains("manifests") || !old["manifests"].is_array())
        return fail(ErrorKind::invalid_input, "export: " + dest + "/index.json is not an OCI index");
      index = old;
      auto& ms = index["manifests"];
      ms.erase(std::remove_if(ms.begin(), ms.end(),
                              [&](const json& m) {
                                auto a = m.find("annotations");
                                return !ref_name.empty() && a != m.end() && a->is_object() &&
                                       a->value(kRefNameAnnotation, "") == ref_name;
                              }),
               ms.end());
    } else {
      // An empty directory is fine; anything else is not ours to write into.
      std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dest.c_str()), ::closedir);
      if (!d) return fail_sys("opendir", dest);
      while (dirent* e = ::readdir(d.get()))
        if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..")
          return fail(ErrorKind::invalid_input, "export: " + dest + " is a non-empty directory that is not an OCI layout");
    }
  }
  TRY(make_dirs(dest + "/blobs/sha256"));
  for (const auto& d : set.blobs) {
    std::string to = dest + "/blobs/sha256/" + d.hex();
    if (::stat(to.c_str(), &st) == 0) continue;
    TRY(copy_file(store.blobs().path(d), to));
  }
  index["manifests"].push_back(index_entry(set, ref_name));
  for (const auto& r : set.referrers) {
    auto& ms = index["manifests"];
    bool listed = std::any_of(ms.begin(), ms.end(), [&](const json& m) { return m.value("digest", "") == r["digest"]; });
    if (!listed) ms.push_back(r);
  }
  TRY(write_file_atomic(dest + "/oci-layout", kOciLayout, dest));
  TRY(write_file_atomic(dest + "/index.json", index.dump(), dest));
  return {};
}

struct ArchiveOut {
  archive* a = archive_write_new();
  archive_entry* e = archive_entry_new();
  ~ArchiveOut() {
    archive_entry_free(e);
    archive_write_free(a);
  }
  Error error(const std::string& path) const {
    const char* m = archive_error_string(a);
    return Error(ErrorKind::io, "writing " + path + ": " + (m ? m : "libarchive error"));
  }
  Status header(const std::string& name, mode_t type, std::int64_t size, const std::string& path) {
    archive_entry_clear(e);
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_size(e, size);
    archive_entry_set_mtime(e, 0, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK) return fail(error(path));
    return {};
  }
  Status data(const char* p, std::size_t n, const std::string& path) {
    while (n > 0) {
      la_ssize_t w = archive_write_data(a, p, n);
      if (w < 0) return fail(error(path));
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return {};
  }
};

Status export_archive(Store& store, const ExportSet& set, const std::string& dest, const std::string& ref_name) {
  std::string tmp = dest + ".tmp-" + unique_suffix();
  ArchiveOut out;
  archive_write_set_format_pax_restricted(out.a);
  if (archive_write_open_filename(out.a, tmp.c_str()) != ARCHIVE_OK) return fail(out.error(tmp));
  struct Cleanup {
    std::string path;
    bool armed = true;
    ~Cleanup() {
      if (armed) ::unlink(path.c_str());
    }
  } cleanup{tmp};
  json index = {{"schemaVersion", 2}, {"mediaType", kMediaTypeIndex}, {"manifests", json::array({index_entry(set, ref_name)})}};
  for (const auto& r : set.referrers) index["manifests"].push_back(r);
  std::string index_text = index.dump();
  TRY(out.header("oci-layout", AE_IFREG, static_cast<std::int64_t>(std::string_view(kOciLayout).size()), dest));
  TRY(out.data(kOciLayout, std::string_view(kOciLayout).size(), dest));
  TRY(out.header("index.json", AE_IFREG, static_cast<std::int64_t>(index_text.size()), dest));
  TRY(out.data(index_text.data(), index_text.size(), dest));
  TRY(out.header("blobs/", AE_IFDIR, 0, dest));
  TRY(out.header("blobs/sha256/", AE_IFDIR, 0, dest));
  std::vector<Digest> blobs = set.blobs;
  std::sort(blobs.begin(), blobs.end());
  blobs.erase(std::unique(blobs.begin(), blobs.end()), blobs.end());
  auto buf = std::make_unique<std::array<char, 1 << 17>>();
  for (const auto& d : blobs) {
    std::uint64_t size = TRY(store.blobs().size(d));
    TRY(out.header("blobs/sha256/" + d.hex(), AE_IFREG, static_cast<std::int64_t>(size), dest));
    UniqueFd in(::open(store.blobs().path(d).c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) return fail_sys("open", store.blobs().path(d));
    for (;;) {
      ssize_t n = ::read(in.get(), buf->data(), buf->size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail_sys("read", store.blobs().path(d));
      }
      if (n == 0) break;
      TRY(out.data(buf->data(), static_cast<std::size_t>(n), dest));
    }
  }
  if (archive_write_close(out.a) != ARCHIVE_OK) return fail(out.error(tmp));
  if (::rename(tmp.c_str(), dest.c_str()) != 0) return fail_sys("rename to", dest);
  cleanup.armed = false;
  return {};
}

}  // namespace

Status export_image(Store& store, const Digest& manifest, const std::string& dest, const std::string& ref_name) {
  ExportSet set = TRY(collect(store, manifest));
  if (dest.ends_with(".tar")) {
    TRY_CTX(export_archive(store, set, dest, ref_name), "exporting to " + dest);
    return {};
  }
  TRY_CTX(export_dir(store, set, dest, ref_name), "exporting to " + dest);
  return {};
}

}  // namespace gantry::cache
