// OCI image import and export: a rootfs tarball, a rootfs directory (one
// without an oci-layout file), an OCI image layout directory or an OCI
// archive (a tar of a layout) in; a layout directory or
// archive (a path ending in .tar) out. Imported OCI blobs keep their digests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cache/layer_writer.h"
#include "common/digest.h"

namespace gantry::cache {

class Store;

struct ImportOptions {
  // For a rootfs tarball: the layer's mtime clamp (default 0).
  std::int64_t epoch = 0;
  // For a layout/archive with several manifests: which ref.name to take.
  std::string source_ref;
};

// Imports SOURCE, tags it as `ref` (NAME[:TAG]) when non-empty; returns the
// manifest digest. SOURCE may be "DIR:REF" to pick a ref of a layout.
Result<Digest> import_image(Store& store, const std::string& source, const std::string& ref,
                            const ImportOptions& options = {});

// Writes the image to DEST: a directory (created or merged into) as an OCI
// image layout, or a path ending in ".tar" as an OCI archive. The index entry
// is annotated org.opencontainers.image.ref.name = `ref_name` (default: the tag).
Status export_image(Store& store, const Digest& manifest, const std::string& dest, const std::string& ref_name);

}  // namespace gantry::cache
