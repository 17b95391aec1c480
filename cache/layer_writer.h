// Deterministic layer tars: POSIX pax (restricted) tar, gzip'd by zlib with
// a fixed header (no name, mtime 0), entries in the order given (the tree
// sources sort by path), mtimes clamped to an epoch, numeric uid/gid with
// empty names, no atime/ctime. diffID (uncompressed) and digest (compressed)
// are computed in the same streaming pass; compression and the compressed
// hash run on a second thread. The result is stored as a blob and recorded
// in meta.db (table layers: digest -> diff_id).
//
// Three sources: a plain directory tree, an overlayfs upper dir (0/0 char
// devices -> .wh.<name>, trusted.overlay.opaque=y -> .wh..wh..opq) and
// explicit entries added one by one (e.g. from git objects). The same input
// gives the same digest, bit for bit.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/digest.h"

namespace gantry::cache {

class Store;

inline constexpr const char* kMediaTypeLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr const char* kMediaTypeLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr const char* kMediaTypeDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

struct LayerDescriptor {
  Digest digest;       // sha256 of the blob (compressed)
  Digest diff_id;      // sha256 of the uncompressed tar
  std::uint64_t size;  // blob size in bytes
  std::string media_type = kMediaTypeLayerGzip;
};

// What a tree on disk cannot hold without root (docs/rootless.md): an
// entry's owner that gantry's user namespace does not map, or a device node
// no user namespace may make (then an empty placeholder file is on disk).
// Recorded when unpacking a rootfs tarball (UnpackOptions::overrides) and
// applied when that tree becomes a layer, so the layer is the tar's, as root's.
struct EntryOverride {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t device = 0;  // S_IFCHR/S_IFBLK | permissions when a placeholder stands for a device node; 0 otherwise
  dev_t rdev = 0;
};
using EntryOverrides = std::map<std::string, EntryOverride>;  // by layer path ("a/b", no leading '/')

struct LayerOptions {
  std::int64_t epoch = 0;      // mtimes above it are clamped to it (seconds)
  int compression_level = 1;   // zlib level 1-9; part of what the digest depends on
  const EntryOverrides* overrides = nullptr;  // add_tree: owners/devices the tree on disk could not hold
};

// Reads up to `size` bytes into buf; returns bytes read (0 = end) or an error.
using LayerReadFn = std::function<Result<std::size_t>(char* buf, std::size_t size)>;

class LayerWriter {
 public:
  static Result<std::unique_ptr<LayerWriter>> create(Store& store, LayerOptions options = {});
  ~LayerWriter();  // aborts an unfinished layer: nothing is stored
  LayerWriter(const LayerWriter&) = delete;
  LayerWriter& operator=(const LayerWriter&) = delete;

  // Paths are relative to the layer root ("app/src/x", no leading "/" or
  // "./", no ".." components). Explicit entries are written in the order
  // added: add them sorted by path (git trees are) for a canonical layer.
  Status add_directory(std::string_view path, mode_t mode, uid_t uid = 0, gid_t gid = 0);
  Status add_file(std::string_view path, mode_t mode, uid_t uid, gid_t gid, std::string_view data);
  Status add_file(std::string_view path, mode_t mode, uid_t uid, gid_t gid, std::uint64_t size,
                  const LayerReadFn& reader);
  Status add_symlink(std::string_view path, std::string_view target, uid_t uid = 0, gid_t gid = 0);
  Status add_hardlink(std::string_view path, std::string_view target);
  // OCI whiteouts: `path` deleted by this layer / `dir`'s lower contents hidden.
  Status add_whiteout(std::string_view path);
  Status add_opaque(std::string_view dir);

  // Adds every entry under `dir` (not `dir` itself), sorted by path, with
  // mode, owner, xattrs, symlinks, hardlinks (by inode), device nodes.
  // overlay_upper=true converts overlayfs whiteouts and opaque dirs to OCI
  // whiteouts. `prefix` is prepended to every path ("" = layer root).
  Status add_tree(const std::string& dir, bool overlay_upper = false, std::string_view prefix = "");

  // Closes the tar, stores the blob, records it; returns its descriptor.
  Result<LayerDescriptor> finish();

 
  struct Impl;  // private to cache/ (layer_writer_impl.h)

 private:
  explicit LayerWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One-call forms.
Result<LayerDescriptor> write_layer_from_dir(Store& store, const std::string& dir, LayerOptions options = {});
Result<LayerDescriptor> write_layer_from_upper(Store& store, const std::string& upper_dir, LayerOptions options = {});

// Records digest -> diff_id (and size, media type) in meta.db, for layers
// that came from elsewhere (import, pull).
Status record_layer(Store& store, const LayerDescriptor& layer);

}  // namespace gantry::cache
