#include "registry/media_types.h"

#include <nlohmann/json.hpp>

#include "cache/json_field.h"

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
  using nlohmann::json;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(ErrorKind::invalid_input, "image index is not a JSON object");
  const std::string doc = "image index: ";
  const json* manifests = TRY(cache::json_field(j, "manifests", json::value_t::array, doc));
  if (!manifests) return fail(ErrorKind::invalid_input, "image index has no manifests array");
  std::vector<IndexEntry> out;
  for (std::size_t i = 0; i < manifests->size(); ++i) {
    const json& m = (*manifests)[i];
    std::string at = cache::json_path(cache::json_path(doc, "manifests"), i);
    TRY(cache::json_expect_object(m, at));
    auto d = Digest::parse(TRY(cache::json_string(m, "digest", at)));
    if (!d) return fail(d.error().context(cache::json_path(at, "digest")));
    IndexEntry e{*d, TRY(cache::json_string(m, "mediaType", at)), {"", "", ""}};
    if (const json* p = TRY(cache::json_field(m, "platform", json::value_t::object, at))) {
      std::string pat = cache::json_path(at, "platform");
      e.platform.os = TRY(cache::json_string(*p, "os", pat));
      e.platform.architecture = TRY(cache::json_string(*p, "architecture", pat));
      e.platform.variant = TRY(cache::json_string(*p, "variant", pat));
    }
    out.push_back(std::move(e));
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
