#include "cache/step_cache.h"

#include <nlohmann/json.hpp>

#include "cache/meta_db.h"

namespace gantry::cache {

using nlohmann::json;

namespace {

constexpr const char* kEntryColumns =
    "key, record, layer_digest, layer_diff_id, layer_size, layer_media_type, config_change, image, "
    "step_index, created";

Result<Digest> column_digest(const Statement& st, int col, const char* what) {
  auto d = Digest::parse(st.column_text(col));
  if (!d) return fail(ErrorKind::corrupt, std::string("step_cache ") + what + ": " + d.error().message());
  return *d;
}

Result<StepCacheEntry> read_entry(const Statement& st) {
  StepCacheEntry e{.key = TRY(Digest::from_hex(st.column_text(0)))};
  e.record = st.column_text(1);
  if (!st.column_is_null(2)) {
    e.layer = LayerDescriptor{.digest = TRY(column_digest(st, 2, "layer_digest")),
                              .diff_id = TRY(column_digest(st, 3, "layer_diff_id")),
                              .size = static_cast<std::uint64_t>(st.column_int64(4)),
                              .media_type = st.column_text(5)};
  }
  e.config_change = TRY_CTX(ConfigChange::parse(st.column_text(6)), "step_cache " + e.key.hex());
  e.image = st.column_text(7);
  e.step_index = static_cast<int>(st.column_int64(8));
  e.created = st.column_int64(9);
  return e;
}

}  // namespace

std::string ConfigChange::to_json() const {
  json j = json::object();
  if (!env.empty()) {
    json list = json::array();
    for (const auto& [k, v] : env) list.push_back({k, v});
    j["env"] = std::move(list);
  }
  if (workdir) j["workdir"] = *workdir;
  if (user) j["user"] = *user;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<ConfigChange> ConfigChange::parse(const std::string& text) {
  try {
    json j = json::parse(text);
    ConfigChange c;
    if (j.contains("env"))
      for (const auto& kv : j["env"]) c.env.emplace_back(kv.at(0).get<std::string>(), kv.at(1).get<std::string>());
    if (j.contains("workdir")) c.workdir = j["workdir"].get<std::string>();
    if (j.contains("user")) c.user = j["user"].get<std::string>();
    return c;
  } catch (const json::exception& e) {
    return fail(ErrorKind::corrupt, std::string("config change is not valid JSON: ") + e.what());
  }
}

Result<std::optional<StepCacheEntry>> StepCache::lookup(const Digest& key) {
  auto st = TRY(db_.prepare(std::string("SELECT ") + kEntryColumns + " FROM step_cache WHERE key = ?"));
  st.bind(1, key.hex());
  if (!TRY(st.step())) return std::optional<StepCacheEntry>{};
  return std::optional<StepCacheEntry>(TRY(read_entry(st)));
}

Status StepCache::put(const StepCacheEntry& e) {
  auto st = TRY(db_.prepare(std::string("INSERT OR IGNORE INTO step_cache (") + kEntryColumns +
                            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  st.bind(1, e.key.hex()).bind(2, e.record);
  if (e.layer) {
    st.bind(3, e.layer->digest.str())
        .bind(4, e.layer->diff_id.str())
        .bind(5, static_cast<std::int64_t>(e.layer->size))
        .bind(6, e.layer->media_type);
  } else {
    st.bind_null(3).bind_null(4).bind_null(5).bind_null(6);
  }
  st.bind(7, e.config_change.to_json()).bind(8, e.image).bind(9, static_cast<std::int64_t>(e.step_index));
  st.bind(10, e.created);
  TRY_CTX(st.run(), "recording step " + e.key.hex());
  return {};
}

Result<std::vector<Digest>> StepCache::keys() {
  auto st = TRY(db_.prepare("SELECT key FROM step_cache ORDER BY key"));
  std::vector<Digest> out;
  while (TRY(st.step())) out.push_back(TRY(Digest::from_hex(st.column_text(0))));
  return out;
}

Result<std::optional<StepCacheEntry>> StepCache::previous(const std::string& image, int step_index,
                                                          const Digest& current) {
  auto last = TRY(builds(image, 1));
  if (!last.empty() && step_index < static_cast<int>(last[0].step_keys.size()) &&
      last[0].step_keys[step_index] != current) {
    auto entry = TRY(lookup(last[0].step_keys[step_index]));
    if (entry) return entry;
  }
  auto st = TRY(db_.prepare(std::string("SELECT ") + kEntryColumns +
                            " FROM step_cache WHERE image = ? AND step_index = ? AND key <> ?"
                            " ORDER BY created DESC, rowid DESC LIMIT 1"));
  st.bind(1, image).bind(2, static_cast<std::int64_t>(step_index)).bind(3, current.hex());
  if (!TRY(st.step())) return std::optional<StepCacheEntry>{};
  return std::optional<StepCacheEntry>(TRY(read_entry(st)));
}

Status StepCache::record_build(const ImageBuildRecord& b) {
  json keys = json::array();
  for (const auto& k : b.step_keys) keys.push_back(k.hex());
  auto st = TRY(db_.prepare(
      "INSERT INTO image_builds (image, manifest_digest, step_keys, created, image_key) VALUES (?, ?, ?, ?, ?)"));
  st.bind(1, b.image).bind(2, b.manifest_digest.str()).bind(3, keys.dump()).bind(4, b.created);
  if (b.image_key) st.bind(5, b.image_key->hex());
  else st.bind_null(5);
  TRY_CTX(st.run(), "recording the build of " + b.image);
  return {};
}

Result<std::vector<ImageBuildRecord>> StepCache::builds(const std::string& image, int limit) {
  auto st = TRY(db_.prepare(
      "SELECT manifest_digest, step_keys, created, image_key FROM image_builds WHERE image = ? ORDER BY id DESC "
      "LIMIT ?"));
  st.bind(1, image).bind(2, static_cast<std::int64_t>(limit));
  std::vector<ImageBuildRecord> out;
  while (TRY(st.step())) {
    ImageBuildRecord b{.image = image, .manifest_digest = TRY(column_digest(st, 0, "manifest_digest"))};
    try {
      for (const auto& k : json::parse(st.column_text(1))) b.step_keys.push_back(TRY(Digest::from_hex(k.get<std::string>())));
    } catch (const json::exception& e) {
      return fail(ErrorKind::corrupt, "image_builds " + image + ": step_keys: " + e.what());
    }
    b.created = st.column_int64(2);
    if (!st.column_is_null(3)) b.image_key = TRY(Digest::from_hex(st.column_text(3)));
    out.push_back(std::move(b));
  }
  return out;
}

Result<std::optional<Digest>> StepCache::manifest_for(const Digest& image_key) {
  auto st = TRY(db_.prepare("SELECT manifest_digest FROM image_builds WHERE image_key = ? ORDER BY id DESC LIMIT 1"));
  st.bind(1, image_key.hex());
  if (!TRY(st.step())) return std::optional<Digest>{};
  return std::optional<Digest>(TRY(column_digest(st, 0, "manifest_digest")));
}

}  // namespace gantry::cache
