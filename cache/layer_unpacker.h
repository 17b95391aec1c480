// Unpacks a layer blob ONCE into layers/<diffid-hex>/, the read-only tree the
// executor uses as an overlay lowerdir. OCI whiteouts become what overlayfs
// expects (.wh.x -> a 0/0 char device x; .wh..wh..opq -> the xattr
// trusted.overlay.opaque=y on its directory).
//
// All writes are fd-relative from the target root and never follow a
// symlink: an entry with "..", an absolute path, a path through a symlink,
// or a hardlink to outside the layer is rejected with an error naming the
// entry. The diffID of the uncompressed stream is checked. Work happens in
// the process's scratch dir and is renamed in whole: on any error nothing is
// left behind; concurrent unpackers of one layer both succeed.
#pragma once

#include <string>

#include "cache/layer_writer.h"
#include "common/file_util.h"

namespace gantry::cache {

class Store;

struct UnpackOptions {
  bool convert_whiteouts = true;       // false: a plain rootfs tar (import); a .wh. entry is an error
  bool verify_diff_id = true;          // checks the uncompressed sha256 against expected_diff_id
  bool preserve_owner = true;          // chown entries (ignored, with EPERM tolerated, when not root)
};

// Unpacks the tar (gzip'd or not, detected) at `archive_path` into the
// existing empty directory `dest`. Returns the sha256 of the uncompressed tar.
Result<Digest> unpack_tar(const std::string& archive_path, const std::string& dest, const UnpackOptions& options = {});

// layers/<diffid-hex>/ for this layer, unpacking the blob first if needed.
Result<std::string> ensure_unpacked(Store& store, const LayerDescriptor& layer);

// The two halves of ensure_unpacked, for imports that check everything
// before they publish anything: unpack a layer tar from any file into a
// scratch dir (its tree is <dir>/root), checking the diffID; then move it
// into layers/<diffid-hex>/ (a no-op when another process got there first).
Result<TempDir> unpack_layer_file(Store& store, const std::string& path, const Digest& diff_id);
Result<std::string> publish_unpacked(Store& store, TempDir& unpacked, const Digest& diff_id);

}  // namespace gantry::cache
