#include "registry/media_types.h"

#include <nlohmann/json.hpp>

namespace gantry::registry {

bool is_index_media_type(const std::string& t) { return t == kOciIndex || t == kDockerManifestList; }
bool is_manifest_media_type(const std::string& t) { return t == kOciManifest || t == kDockerManifest; }

bool is_supported_layer_type(const std::string& t) {
  return t == "application/vnd.oci.image.layer.v1.tar" || t == "application/vnd.oci.image.layer.v1.tar+gzip" ||
         t == "application/vnd.docker.image.rootfs.diff.tar.gzip" ||
         t == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" ||
         t == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}

bool is_supported_config_type(const std::string& t) { return t == kOciConfig || t == kDockerConfig; }

Result<std::vector<IndexEntry>> parse_index(const std::string& text) {
  std::vector<IndexEntry> out;
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.contains("manifests") || !j["manifests"].is_array())
      return fail(ErrorKind::invalid_input, "image index has no manifests array");
    for (const auto& m : j["manifests"]) {
      auto d = Digest::parse(m.value("digest", std::string()));
      if (!d) return fail(d.error().context("image index entry"));
      IndexEntry e{*d, m.value("mediaType", std::string()), {}};
      if (m.contains("platform") && m["platform"].is_object()) {
        const auto& p = m["platform"];
        e.platform.os = p.value("os", std::string());
        e.platform.architecture = p.value("architecture", std::string());
        e.platform.variant = p.value("variant", std::string());
      } else {
        e.platform = {"", "", ""};
      }
      out.push_back(std::move(e));
    }
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorKind::invalid_input, std::string("image index: bad JSON: ") + e.what());
  }
  return out;
}

Result<IndexEntry> select_platform(const std::vector<IndexEntry>& entries, const Platform& want) {
  std::string have;
  for (const auto& e : entries) {
    if (e.platform.os == want.os && e.platform.architecture == want.architecture &&
        (want.variant.empty() || e.platform.variant == want.variant) && is_manifest_media_type(e.media_type))
      return e;
    if (!e.platform.os.empty()) have += (have.empty() ? "" : ", ") + e.platform.str();
  }
  return fail(ErrorKind::not_found,
              "no " + want.str() + " image in the index (it has: " + (have.empty() ? "no platforms" : have) + ")");
}

}  // namespace gantry::registry
