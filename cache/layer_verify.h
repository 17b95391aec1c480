// fsck --deep of the unpacked layers: layers/<diffid>/ is what the executor
// runs, so a file changed there after unpacking (a disk error, a tamperer,
// a bug) changes what the same digest runs. Each unpacked tree is checked
// against its blob by unpacking the blob again (which re-verifies its
// diff_id) into scratch and comparing the two trees entry by entry: type,
// mode, owner, size, content hash, link target and overlay xattrs.
#pragma once

#include <optional>
#include <string>

#include "common/digest.h"
#include "common/error.h"

namespace gantry::cache {

class Store;

// Describes every entry of a tree, sorted by path: "path type mode uid:gid
// size-or-target sha256 [opaque]" per line. Fd-relative, follows no symlink.
Result<std::string> describe_tree(const std::string& root);

// nullopt when layers/<diff_id>/ matches its blob; else the first difference.
// media_type: the layer blob's (its compression must match; empty = gzip).
Result<std::optional<std::string>> verify_unpacked_layer(Store& store, const Digest& blob, const Digest& diff_id,
                                                         const std::string& media_type = "");

// Every unpacked layer whose blob the store holds, verified as above; adds
// one fault per mismatch ("layer <diff_id>: ...") and counts what it checked.
struct FsckReport;
Status check_unpacked_layers(Store& store, FsckReport& report);

}  // namespace gantry::cache
