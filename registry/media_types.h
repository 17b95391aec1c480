// Media types the registry client accepts, and the choice of one platform's
// manifest from an image index (OCI) or manifest list (Docker).
#pragma once

#include <string>
#include <vector>

#include "common/digest.h"
#include "common/error.h"

namespace gantry::registry {

inline constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kDockerConfig = "application/vnd.docker.container.image.v1+json";

bool is_index_media_type(const std::string& media_type);
bool is_manifest_media_type(const std::string& media_type);
// Layer types gantry can unpack: tar, tar+gzip (OCI and Docker spellings).
bool is_supported_layer_type(const std::string& media_type);
bool is_supported_config_type(const std::string& media_type);

struct Platform {
  std::string os = "linux";
  std::string architecture = "amd64";
  std::string variant;  // "" matches any
  std::string str() const { return os + "/" + architecture + (variant.empty() ? "" : "/" + variant); }
};

struct IndexEntry {
  Digest digest;
  std::string media_type;
  Platform platform;
};

// The entries of an index / manifest list document.
Result<std::vector<IndexEntry>> parse_index(const std::string& json);
// The entry for `want`; not_found naming the platforms the index has.
Result<IndexEntry> select_platform(const std::vector<IndexEntry>& entries, const Platform& want);

}  // namespace gantry::registry
