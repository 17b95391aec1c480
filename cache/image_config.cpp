// ImageConfig <-> the OCI image config JSON (canonical: sorted keys, compact).
#include <nlohmann/json.hpp>

#include "cache/image_store.h"
#include "cache/json_field.h"

namespace gantry::cache {

using nlohmann::json;

namespace {

std::vector<std::string> string_list(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it)
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

std::string string_field(const json& j, const char* key) {
  auto it = j.find(key);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

void set_or_erase(json& j, const char* key, const std::string& v) {
  if (v.empty())
    j.erase(key);
  else
    j[key] = v;
}
void set_or_erase(json& j, const char* key, const std::vector<std::string>& v) {
  if (v.empty())
    j.erase(key);
  else
    j[key] = v;
}

}  // namespace

Result<ImageConfig> ImageConfig::parse(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(ErrorKind::corrupt, "image config is not a JSON object");
  ImageConfig c;
  c.raw = text;
  c.architecture = string_field(j, "architecture");
  c.os = string_field(j, "os");
  c.created = string_field(j, "created");
  if (auto it = j.find("config"); it != j.end() && it->is_object()) {
    const json& cfg = *it;
    c.env = string_list(cfg, "Env");
    c.working_dir = string_field(cfg, "WorkingDir");
    c.user = string_field(cfg, "User");
    c.entrypoint = string_list(cfg, "Entrypoint");
    c.cmd = string_list(cfg, "Cmd");
    c.stop_signal = string_field(cfg, "StopSignal");
    if (auto l = cfg.find("Labels"); l != cfg.end() && l->is_object())
      for (auto& [k, v] : l->items())
        if (v.is_string()) c.labels[k] = v.get<std::string>();
    if (auto p = cfg.find("ExposedPorts"); p != cfg.end() && p->is_object())
      for (auto& [k, v] : p->items()) c.exposed_ports.push_back(k);
  }
  if (const json* r = TRY(json_field(j, "rootfs", json::value_t::object, "image config"))) {
    if (const json* ids = TRY(json_field(*r, "diff_ids", json::value_t::array, "image config rootfs"))) {
      for (std::size_t i = 0; i < ids->size(); ++i) {
        std::string at = json_path("image config rootfs.diff_ids", i);
        if (!(*ids)[i].is_string()) return fail(ErrorKind::invalid_input, at + " must be a string");
        auto d = Digest::parse((*ids)[i].get<std::string>());
        if (!d) return fail(d.error().context(at));
        c.diff_ids.push_back(*d);
      }
    }
  }
  if (auto h = j.find("history"); h != j.end() && h->is_array()) {
    for (const auto& e : *h) {
      if (!e.is_object()) continue;
      HistoryEntry he;
      he.created = string_field(e, "created");
      he.created_by = string_field(e, "created_by");
      he.comment = string_field(e, "comment");
      if (auto el = e.find("empty_layer"); el != e.end() && el->is_boolean()) he.empty_layer = el->get<bool>();
      c.history.push_back(std::move(he));
    }
  }
  return c;
}

std::string ImageConfig::to_json() const {
  json j = json::object();
  if (!raw.empty()) {
    json parsed = json::parse(raw, nullptr, false);
    if (parsed.is_object()) j = std::move(parsed);
  }
  j["architecture"] = architecture.empty() ? "amd64" : architecture;
  j["os"] = os.empty() ? "linux" : os;
  set_or_erase(j, "created", created);
  json cfg = j.contains("config") && j["config"].is_object() ? j["config"] : json::object();
  set_or_erase(cfg, "Env", env);
  set_or_erase(cfg, "WorkingDir", working_dir);
  set_or_erase(cfg, "User", user);
  set_or_erase(cfg, "Entrypoint", entrypoint);
  set_or_erase(cfg, "Cmd", cmd);
  set_or_erase(cfg, "StopSignal", stop_signal);
  if (labels.empty())
    cfg.erase("Labels");
  else
    cfg["Labels"] = labels;
  if (exposed_ports.empty()) {
    cfg.erase("ExposedPorts");
  } else {
    json ports = json::object();
    for (const auto& p : exposed_ports) ports[p] = json::object();
    cfg["ExposedPorts"] = ports;
  }
  j["config"] = cfg;
  json ids = json::array();
  for (const auto& d : diff_ids) ids.push_back(d.str());
  j["rootfs"] = {{"type", "layers"}, {"diff_ids", ids}};
  if (history.empty()) {
    j.erase("history");
  } else {
    json hist = json::array();
    for (const auto& h : history) {
      json e = json::object();
      if (!h.created.empty()) e["created"] = h.created;
      if (!h.created_by.empty()) e["created_by"] = h.created_by;
      if (!h.comment.empty()) e["comment"] = h.comment;
      if (h.empty_layer) e["empty_layer"] = true;
      hist.push_back(e);
    }
    j["history"] = hist;
  }
  return j.dump();
}

std::optional<std::string> ImageConfig::env_value(const std::string& key) const {
  for (const auto& kv : env)
    if (kv.size() > key.size() && kv.compare(0, key.size(), key) == 0 && kv[key.size()] == '=')
      return kv.substr(key.size() + 1);
  return std::nullopt;
}

Result<ManifestInfo> parse_manifest(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(ErrorKind::corrupt, "manifest is not a JSON object");
  std::string media_type = string_field(j, "mediaType");
  if (media_type == kMediaTypeIndex || media_type == "application/vnd.docker.distribution.manifest.list.v2+json")
    return fail(ErrorKind::invalid_input, "an image index (" + media_type + "), not an image manifest");
  if (!j.contains("schemaVersion") || j["schemaVersion"] != 2)
    return fail(ErrorKind::corrupt, "manifest has no schemaVersion 2");
  auto descriptor = [](const json& d, const std::string& at) -> Result<ManifestInfo::Layer> {
    TRY(json_expect_object(d, at));
    auto digest = Digest::parse(TRY(json_string(d, "digest", at)));
    if (!digest) return fail(digest.error().context(json_path(at, "digest")));
    const json* size = TRY(json_field(d, "size", json::value_t::number_unsigned, at));
    if (!size) return fail(ErrorKind::corrupt, at + " has no size");
    return ManifestInfo::Layer{*digest, size->get<std::uint64_t>(), TRY(json_string(d, "mediaType", at))};
  };
  if (!j.contains("config")) return fail(ErrorKind::corrupt, "manifest has no config");
  auto cfg = TRY(descriptor(j["config"], "manifest config"));
  ManifestInfo m{media_type, cfg.digest, cfg.size, cfg.media_type, {}};
  if (const json* l = TRY(json_field(j, "layers", json::value_t::array, "manifest")))
    for (std::size_t i = 0; i < l->size(); ++i) m.layers.push_back(TRY(descriptor((*l)[i], json_path("manifest layers", i))));
  return m;
}

}  // namespace gantry::cache
