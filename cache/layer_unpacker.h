// Unpacks a layer blob ONCE into layers/<diffid-hex>/, the read-only tree the
// executor uses as an overlay lowerdir. OCI whiteouts become what overlayfs
// expects (.wh.x -> a 0/0 char device x; .wh..wh..opq -> the xattr
// trusted.overlay.opaque=y on its directory).
//
// All writes are fd-relative from the target root and never follow a
// symlink: an entry with "..", an absolute path, a path through a symlink,
// or a hardlink to outside the layer is rejected with an error naming the
// entry. The diffID of the uncompressed stream is checked, the compression
// must match the media type, and the store's max_layer_bytes bounds the
// uncompressed stream and the entries' declared sizes (expansion bombs). Work happens in
// the process's scratch dir and is renamed in whole: on any error nothing is
// left behind; concurrent unpackers of one layer both succeed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cache/layer_writer.h"
#include "common/file_util.h"

namespace gantry::cache {

class Store;

// What an unpack met (UnpackOptions::stats).
struct UnpackStats {
  std::uint64_t entries = 0;
  // Entries named .wh.* kept as plain entries (convert_whiteouts false): a
  // layer made from such a tree unpacks them as whiteouts, so the tree is
  // not that layer's.
  std::uint64_t whiteout_names = 0;
  std::optional<Digest> file_digest;  // with hash_file: the sha256 of the file's bytes (a blob's digest)
};

struct UnpackOptions {
  bool convert_whiteouts = true;       // false: a plain rootfs tar (import); a .wh. entry is an error
  bool preserve_owner = true;          // chown entries (ignored, with EPERM tolerated, when not root)
  // The layer's media type: its compression must match the file's magic
  // bytes. Empty: a rootfs tarball, any compression libarchive reads.
  std::string media_type;
  // Bound on the uncompressed stream and on the sizes the entries declare.
  std::uint64_t max_bytes = UINT64_MAX;
  // Without root: where to record what the tree cannot hold (an unmapped
  // owner; a device node, then an empty placeholder file is made), for a
  // tree that becomes a layer again (rootfs import). Null: owners are left
  // as root and device nodes out, counted in one warning.
  EntryOverrides* overrides = nullptr;
  // Set: mtimes later than this (seconds) become it, and nanoseconds are
  // dropped, as a layer written from the tree with this epoch records them
  // (LayerOptions::epoch): the tree is then the one that layer unpacks to.
  std::optional<std::int64_t> clamp_mtime;
  // Threads writing regular files while the tar is read: -1 the machine's
  // hardware threads (none on one), 0 none (everything in the calling
  // thread), N that many. The tree is the same either way.
  int writers = -1;
  bool hash_file = false;         // also hash the file's bytes, in the same pass (stats->file_digest)
  UnpackStats* stats = nullptr;   // filled when set
};

// Unpacks the tar at `archive_path` into the existing empty directory
// `dest`. Returns the sha256 of the uncompressed tar; nullopt only for a
// rootfs tarball (no media type) that libarchive decompressed (xz, bzip2, zstd).
Result<std::optional<Digest>> unpack_tar(const std::string& archive_path, const std::string& dest,
                                         const UnpackOptions& options = {});

// The uncompressed digest of a layer file, read through to the end (no
// unpacking): the compression must be the one `media_type` names, and the
// store's max_layer_bytes holds. For verifying a diff_id on ingest.
Result<Digest> layer_diff_id(const Store& store, const std::string& path, const std::string& media_type);

// Refuses (ErrorKind::corrupt, naming the layer, both digests) a layer file
// whose uncompressed content is not layer.diff_id.
Status verify_layer_file(const Store& store, const std::string& path, const LayerDescriptor& layer);

// layers/<diffid-hex>/ for this layer, unpacking the blob first if needed.
// Every layer record in the store was verified on ingest (import, pull,
// commit), so an existing dir is the diff_id's content.
Result<std::string> ensure_unpacked(Store& store, const LayerDescriptor& layer);

// The two halves of ensure_unpacked, for imports that check everything
// before they publish anything: unpack a layer tar from any file into a
// scratch dir (its tree is <dir>/root), checking the diffID; then move it
// into layers/<diffid-hex>/ (a no-op when another process got there first).
// check_digest: the file's sha256 must also be layer.digest (hashed in the
// same pass; ErrorKind::corrupt naming both otherwise).
Result<TempDir> unpack_layer_file(Store& store, const std::string& path, const LayerDescriptor& layer,
                                  bool check_digest = false);
Result<std::string> publish_unpacked(Store& store, TempDir& unpacked, const Digest& diff_id);

// Ingest of a layer file (import, pull): when layers/<diff_id> is there, the
// file is only verified (diff_id, and digest with check_digest: an existing
// dir proves nothing about this file) and nullopt returned; otherwise it is
// unpacked into scratch in the same pass that checks it, for
// publish_unpacked once everything of the image has been checked.
Result<std::optional<TempDir>> check_or_unpack_layer(Store& store, const std::string& path, const LayerDescriptor& layer,
                                                     bool check_digest = false);

struct LayerFile {
  std::string path;
  LayerDescriptor layer;
};
// check_or_unpack_layer for every layer, up to unpack_threads() at a time
// (an image's layers are independent trees); the first error stops the rest.
Result<std::vector<std::optional<TempDir>>> check_or_unpack_layers(Store& store, const std::vector<LayerFile>& files,
                                                                   bool check_digest = false);

// How many layers are unpacked at once: the machine's hardware threads.
int unpack_threads();

}  // namespace gantry::cache
