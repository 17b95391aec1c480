// gantry image import: a rootfs tarball, an OCI image layout directory, or an
// OCI archive. Everything is checked (digests, sizes, diff_ids, every tar
// entry) before anything is published, so a bad source leaves the store as it
// was; blobs go in before the manifest that names them, and the tag last.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cache/image_store.h"
#include "cache/json_field.h"
#include "cache/layer_path.h"
#include "cache/layer_unpacker.h"
#include "cache/oci_transfer.h"
#include "cache/referrers.h"
#include "common/units.h"
#include "cache/store.h"
#include "cache/tar_source.h"
#include "common/rooted_path.h"
#include "common/unique_fd.h"

namespace gantry::cache {

using nlohmann::json;

namespace {

constexpr const char* kRefNameAnnotation = "org.opencontainers.image.ref.name";

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<json> read_json(const std::string& path) {
  auto text = TRY(read_file(path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(ErrorKind::invalid_input, path + " is not a JSON object");
  return j;
}

// ---- OCI archives ----------------------------------------------------------

bool is_layout_name(const std::string& clean) {
  if (clean.empty() || clean == "oci-layout" || clean == "index.json" || clean == "blobs" || clean == "blobs/sha256")
    return true;
  return clean.starts_with("blobs/sha256/") && Digest::from_hex(clean.substr(13)).has_value();
}

// True when every entry of the tar is a part of an OCI layout (and there is
// an oci-layout file); stops at the first entry that is not.
Result<bool> is_oci_archive(const std::string& path) {
  auto src = TRY(TarSource::open(path));
  bool seen_layout = false;
  for (;;) {
    archive_entry* e = TRY(src->next());
    if (!e) break;
    auto clean = normalize_layer_path(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
    if (!clean || !is_layout_name(*clean)) return false;
    if (*clean == "oci-layout") seen_layout = true;
  }
  return seen_layout;
}

Status extract_oci_archive(const std::string& path, const std::string& dest) {
  auto src = TRY(TarSource::open(path));
  TRY(make_dirs(dest + "/blobs/sha256"));
  for (;;) {
    archive_entry* e = TRY(src->next());
    if (!e) break;
    std::string clean = TRY(normalize_layer_path(archive_entry_pathname(e)));
    if (!is_layout_name(clean)) return fail(ErrorKind::invalid_input, path + ": unexpected entry '" + clean + "'");
    if (archive_entry_filetype(e) == AE_IFDIR) continue;
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
      return fail(ErrorKind::invalid_input, path + ": entry '" + clean + "' is not a regular file");
    std::string out = dest + "/" + clean;
    UniqueFd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd) return fail_sys("create", out);
    const void* buf;
    size_t size;
    la_int64_t offset;
    for (;;) {
      int rc = archive_read_data_block(src->get(), &buf, &size, &offset);
      if (rc == ARCHIVE_EOF) break;
      if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return fail(src->error("reading"));
      const char* p = static_cast<const char*>(buf);
      while (size > 0) {
        ssize_t n = ::pwrite(fd.get(), p, size, offset);
        if (n < 0) return fail_sys("write", out);
        p += n;
        size -= static_cast<size_t>(n);
        offset += n;
      }
    }
  }
  return {};
}

// ---- OCI layouts -----------------------------------------------------------

struct Source {
  std::string dir;
  std::string blob_path(const Digest& d) const { return dir + "/blobs/sha256/" + d.hex(); }
  // Reads a small blob and checks its digest.
  Result<std::string> read_blob(const Digest& d, const std::string& what) const {
    auto text = read_file(blob_path(d));
    if (!text)
      return fail(ErrorKind::invalid_input,
                  dir + ": " + what + " " + d.str() + " is missing from the layout (" + text.error().message() + ")");
    if (Digest::of(*text) != d)
      return fail(ErrorKind::corrupt, dir + ": " + what + " blob " + d.str() + " does not match its digest (content hashes to " +
                                          Digest::of(*text).str() + ")");
    return text;
  }
};

// Picks the manifest descriptor: by ref name, or the only one; follows an
// image index to its linux/amd64 manifest. Fields of the wrong type are
// errors naming `where` (the file) and the field.
Result<Digest> pick_manifest(const Source& src, const json& index, const std::string& ref_name, const std::string& where) {
  const std::string doc = where + ": ";
  const json* manifests = TRY(json_field(index, "manifests", json::value_t::array, doc));
  if (!manifests || manifests->empty()) return fail(ErrorKind::invalid_input, where + " lists no manifests");
  struct Entry {
    const json* desc;
    std::string where;
    std::string name;
  };
  std::vector<Entry> entries;
  std::string names;
  for (std::size_t i = 0; i < manifests->size(); ++i) {
    const json& m = (*manifests)[i];
    std::string at = json_path(json_path(doc, "manifests"), i);
    TRY(json_expect_object(m, at));
    std::string name;
    if (const json* a = TRY(json_field(m, "annotations", json::value_t::object, at)))
      name = TRY(json_string(*a, kRefNameAnnotation, json_path(at, "annotations")));
    if (!name.empty()) names += (names.empty() ? "" : ", ") + name;
    // An artifact (a referrer such as an attestation) is not an image to pick.
    if (name.empty() && m.contains("artifactType")) continue;
    entries.push_back({&m, at, name});
  }
  const Entry* chosen = nullptr;
  if (!ref_name.empty()) {
    for (const auto& e : entries)
      if (e.name == ref_name) chosen = &e;
    if (!chosen)
      return fail(ErrorKind::not_found,
                  where + " has no image named '" + ref_name + "'" + (names.empty() ? "" : " (it has " + names + ")"));
  } else if (entries.size() == 1) {
    chosen = &entries[0];
  } else {
    for (const auto& e : entries) {
      const json* p = TRY(json_field(*e.desc, "platform", json::value_t::object, e.where));
      if (p && TRY(json_string(*p, "os", json_path(e.where, "platform"))) == "linux" &&
          TRY(json_string(*p, "architecture", json_path(e.where, "platform"))) == "amd64") {
        chosen = &e;
        break;
      }
    }
    if (!chosen)
      return fail(ErrorKind::invalid_input,
                  where + " holds several images: pick one with SOURCE:REF" + (names.empty() ? "" : " (" + names + ")"));
  }
  std::string digest_text = TRY(json_string(*chosen->desc, "digest", chosen->where));
  auto digest = Digest::parse(digest_text);
  if (!digest) return fail(digest.error().context(json_path(chosen->where, "digest")));
  std::string media = TRY(json_string(*chosen->desc, "mediaType", chosen->where));
  if (media == kMediaTypeIndex || media == "application/vnd.docker.distribution.manifest.list.v2+json") {
    std::string text = TRY(src.read_blob(*digest, "image index"));
    json nested = json::parse(text, nullptr, false);
    if (nested.is_discarded() || !nested.is_object())
      return fail(ErrorKind::invalid_input, where + ": index " + digest->str() + " is not JSON");
    return pick_manifest(src, nested, "", src.dir + ": index " + digest->str());
  }
  return *digest;
}

// The referrers of the imported image that the layout lists (artifact
// manifests whose subject is the image, as export writes them): their
// blobs are checked against their digests and stored, and they are
// recorded as the image's referrers (referrers.h). Others are ignored.
Status import_referrers(Store& store, const Source& src, const json& index, const Digest& image) {
  constexpr std::uint64_t kMaxReferrerBlob = 16u << 20;
  if (!index.contains("manifests") || !index["manifests"].is_array()) return {};
  ReferrerStore referrers(store);
  for (const auto& m : index["manifests"]) {
    if (!m.is_object() || !m.contains("artifactType")) continue;
    auto digest = Digest::parse(m.value("digest", ""));
    if (!digest) continue;
    auto text = src.read_blob(*digest, "referrer manifest");
    if (!text) continue;
    auto info = parse_artifact(*text);
    if (!info.subject || info.subject->digest != image) continue;
    auto rm = parse_manifest(*text);
    if (!rm) continue;
    std::vector<std::pair<Digest, std::uint64_t>> blobs{{rm->config, rm->config_size}};
    for (const auto& l : rm->layers) blobs.push_back({l.digest, l.size});
    std::vector<std::pair<Digest, std::string>> contents;
    bool ok = true;
    for (const auto& [d, size] : blobs) {
      if (size > kMaxReferrerBlob) ok = false;
      if (!ok) break;
      auto bytes = src.read_blob(d, "referrer blob");
      if (!bytes) ok = false;
      else contents.emplace_back(d, std::move(*bytes));
    }
    if (!ok) continue;
    for (const auto& [d, bytes] : contents) TRY(store.blobs().put(bytes, d));
    TRY(store.blobs().put(*text, *digest));
    TRY(referrers.record(*digest));
  }
  return {};
}

Result<Digest> import_layout(Store& store, const std::string& dir, const std::string& ref_name) {
  Source src{dir};
  struct stat st {};
  if (::stat((dir + "/oci-layout").c_str(), &st) != 0)
    return fail(ErrorKind::invalid_input, dir + " is not an OCI image layout (no oci-layout file)");
  json index = TRY(read_json(dir + "/index.json"));
  Digest manifest_digest = TRY(pick_manifest(src, index, ref_name, dir + "/index.json"));
  std::string manifest_text = TRY(src.read_blob(manifest_digest, "manifest"));
  ManifestInfo manifest = TRY_CTX(parse_manifest(manifest_text), dir + ": manifest " + manifest_digest.str());
  std::string config_text = TRY(src.read_blob(manifest.config, "config"));
  ImageConfig config = TRY_CTX(ImageConfig::parse(config_text), dir + ": config " + manifest.config.str());
  if (config.diff_ids.size() != manifest.layers.size())
    return fail(ErrorKind::invalid_input, dir + ": the manifest lists " + std::to_string(manifest.layers.size()) +
                                              " layers but the config has " + std::to_string(config.diff_ids.size()) + " diff_ids");

  // Check every layer: present, right size, then in one pass per layer (the
  // layers in parallel) its digest, its diff_id and every tar entry, unpacked
  // into scratch (published below).
  std::vector<LayerDescriptor> layers;
  std::vector<LayerFile> files;
  for (std::size_t i = 0; i < manifest.layers.size(); ++i) {
    const auto& l = manifest.layers[i];
    std::string media = l.media_type.empty() ? kMediaTypeLayerGzip : l.media_type;
    if (media.find("zstd") != std::string::npos || media.find("nondistributable") != std::string::npos)
      return fail(ErrorKind::invalid_input, dir + ": layer " + l.digest.str() + " has the unsupported media type " + media);
    std::string path = src.blob_path(l.digest);
    if (::stat(path.c_str(), &st) != 0)
      return fail(ErrorKind::invalid_input, dir + ": layer " + l.digest.str() + " is missing from the layout");
    if (static_cast<std::uint64_t>(st.st_size) != l.size)
      return fail(ErrorKind::corrupt, dir + ": layer " + l.digest.str() + " is " + std::to_string(st.st_size) +
                                          " bytes, the manifest says " + std::to_string(l.size));
    LayerDescriptor layer{l.digest, config.diff_ids[i], l.size, media};
    layers.push_back(layer);
    files.push_back({path, layer});
  }
  // The diff_id is checked whatever is on disk: a layers/<diff_id> dir that
  // exists proves nothing about this blob.
  auto unpacked = TRY_CTX(check_or_unpack_layers(store, files, true), dir);

  // Publish: layers, config, unpacked trees, then the manifest.
  for (const auto& l : layers) {
    if (!store.blobs().has(l.digest)) TRY(store.blobs().put_file(src.blob_path(l.digest), l.digest));
    TRY(record_layer(store, l));
  }
  TRY(store.blobs().put(config_text, manifest.config));
  for (std::size_t i = 0; i < layers.size(); ++i)
    if (unpacked[i]) TRY(publish_unpacked(store, *unpacked[i], layers[i].diff_id));
  TRY(store.blobs().put(manifest_text, manifest_digest));
  TRY(import_referrers(store, src, index, manifest_digest));
  return manifest_digest;
}

// ---- rootfs tarballs ---------------------------------------------------------

// The tree a rootfs tarball was unpacked into becomes its layer's
// layers/<diff_id>, so the first container of the image unpacks nothing.
// It is that layer's tree: mtimes were clamped to the layer's epoch as it
// was unpacked; the root gets what unpacking the layer gives it (the layer
// has no entry for it); device-node placeholders (without root) go, as
// unpacking the layer leaves device nodes out. A tree whose .wh.* names
// the layer would turn into whiteouts is not the layer's: it is dropped
// (then the first container unpacks the layer, as before).
Status publish_rootfs_tree(Store& store, TempDir& tree, const LayerDescriptor& layer, const EntryOverrides* overrides,
                           const UnpackStats& stats) {
  if (stats.whiteout_names > 0) return {};
  const std::string root = tree.path() + "/root";
  UniqueFd rootfd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!rootfd) return fail_sys("open", root);
  if (overrides) {
    std::size_t unmapped = 0;
    std::string first;
    for (const auto& [path, o] : *overrides) {
      if (o.device) continue;
      if (unmapped++ == 0) first = "/" + path + " (" + std::to_string(o.uid) + ":" + std::to_string(o.gid) + ")";
    }
    // As unpacking the layer says it (layer_unpacker.cpp): the layer keeps them, the tree cannot.
    if (unmapped > 0)
      spdlog::warn("{} entries are owned by ids gantry's user namespace does not map (first: {}); they are stored as "
                   "root in the unpacked layer (docs/rootless.md: subordinate ids in /etc/subuid and /etc/subgid map "
                   "them)",
                   unmapped, first);
    for (const auto& [path, o] : *overrides) {
      if (!o.device) continue;
      auto slash = path.rfind('/');
      auto parent = TRY(open_dir_beneath(rootfd.get(), slash == std::string::npos ? "" : path.substr(0, slash), Create::no));
      std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
      if (::unlinkat(parent.get(), name.c_str(), 0) != 0) return fail_sys("remove the placeholder", root + "/" + path);
    }
  }
  if (::fchown(rootfd.get(), ::geteuid(), ::getegid()) != 0 && errno != EPERM) return fail_sys("chown", root);
  if (::fchmod(rootfd.get(), 0755) != 0) return fail_sys("chmod", root);
  TRY(publish_unpacked(store, tree, layer.diff_id));
  return {};
}

// The unpacked tree of a rootfs tarball, and what its unpack met.
struct RootfsTree {
  TempDir* dir;
  const UnpackStats* stats;
};

// One layer from a rootfs directory; a default config (PATH set).
Result<Digest> import_rootfs_dir(Store& store, const std::string& root, const ImportOptions& options,
                                 const std::string& source_name = "", const EntryOverrides* overrides = nullptr,
                                 std::optional<RootfsTree> tree = std::nullopt) {
  LayerOptions lo;
  lo.epoch = options.epoch;
  lo.overrides = overrides;
  LayerDescriptor layer = TRY(write_layer_from_dir(store, root, lo));
  if (tree) TRY_CTX(publish_rootfs_tree(store, *tree->dir, layer, overrides, *tree->stats), "publishing its unpacked layer");
  ImageConfig config;
  config.created = format_utc_time(options.epoch);
  config.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  std::string name = source_name.empty() ? root : source_name;
  auto slash = name.find_last_of('/');
  config.history.push_back({config.created, "gantry image import " + name.substr(slash == std::string::npos ? 0 : slash + 1), "", false});
  return store.images().commit_image(config, {layer});
}

Result<Digest> import_rootfs(Store& store, const std::string& tarball, const ImportOptions& options) {
  auto work = TRY(store.make_temp_dir("import-"));
  std::string root = work.path() + "/root";
  if (::mkdir(root.c_str(), 0755) != 0) return fail_sys("mkdir", root);
  UnpackOptions unpack;
  unpack.convert_whiteouts = false;
  unpack.max_bytes = store.options().max_layer_bytes;
  unpack.clamp_mtime = options.epoch;  // as the layer records them: the tree is the layer's
  UnpackStats stats;
  unpack.stats = &stats;
  // Without root, what the tree cannot hold (owners the user namespace does
  // not map, device nodes) goes into the layer from the tar's headers.
  EntryOverrides overrides;
  unpack.overrides = &overrides;
  TRY(unpack_tar(tarball, root, unpack));
  return import_rootfs_dir(store, root, options, tarball, &overrides, RootfsTree{&work, &stats});
}

}  // namespace

Result<Digest> import_image(Store& store, const std::string& source, const std::string& ref, const ImportOptions& options) {
  if (!ref.empty()) TRY(Reference::parse(ref));  // a bad name fails before any work
  std::string path = source;
  std::string ref_name = options.source_ref;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    auto colon = source.rfind(':');
    if (colon != std::string::npos && is_dir(source.substr(0, colon))) {
      path = source.substr(0, colon);
      ref_name = source.substr(colon + 1);
    } else {
      return fail_sys("import: open", source);
    }
  }
  Digest digest = *Digest::from_hex(std::string(64, '0'));
  if (is_dir(path) && ::access((path + "/oci-layout").c_str(), F_OK) != 0 && ref_name.empty()) {
    digest = TRY_CTX(import_rootfs_dir(store, path, options), "importing " + source);
  } else if (is_dir(path)) {
    digest = TRY_CTX(import_layout(store, path, ref_name), "importing " + source);
  } else if (TRY_CTX(is_oci_archive(path), "importing " + source)) {
    auto work = TRY(store.make_temp_dir("archive-"));
    TRY_CTX(extract_oci_archive(path, work.path()), "importing " + source);
    digest = TRY_CTX(import_layout(store, work.path(), ref_name), "importing " + source);
  } else {
    digest = TRY_CTX(import_rootfs(store, path, options), "importing " + source);
  }
  if (!ref.empty()) TRY(store.images().tag_ref(ref, digest));
  return digest;
}

}  // namespace gantry::cache
