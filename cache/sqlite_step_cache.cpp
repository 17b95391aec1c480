// SqliteMetadata (sqlite_metadata.h): the build step cache, the image builds
// --explain compares against, and the deferred entries of a shared cache.
#include "cache/sqlite_metadata.h"

#include <nlohmann/json.hpp>

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

Result<std::optional<StepCacheEntry>> SqliteMetadata::find_step(const Digest& key) {
  auto st = TRY(db_.prepare(std::string("SELECT ") + kEntryColumns + " FROM step_cache WHERE key = ?"));
  st.bind(1, key.hex());
  if (!TRY(st.step())) return std::optional<StepCacheEntry>{};
  return std::optional<StepCacheEntry>(TRY(read_entry(st)));
}

Status SqliteMetadata::put_step(const StepCacheEntry& e) {
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

Result<std::vector<Digest>> SqliteMetadata::step_keys() {
  auto st = TRY(db_.prepare("SELECT key FROM step_cache ORDER BY key"));
  std::vector<Digest> out;
  while (TRY(st.step())) out.push_back(TRY(Digest::from_hex(st.column_text(0))));
  return out;
}

Result<std::optional<StepCacheEntry>> SqliteMetadata::previous_step(const std::string& image, int step_index,
                                                          const Digest& current) {
  auto last = TRY(image_builds(image, 1));
  if (!last.empty() && step_index < static_cast<int>(last[0].step_keys.size()) &&
      last[0].step_keys[step_index] != current) {
    auto entry = TRY(find_step(last[0].step_keys[step_index]));
    if (entry) return entry;
  }
  auto st = TRY(db_.prepare(std::string("SELECT ") + kEntryColumns +
                            " FROM step_cache WHERE image = ? AND step_index = ? AND key <> ?"
                            " ORDER BY created DESC, rowid DESC LIMIT 1"));
  st.bind(1, image).bind(2, static_cast<std::int64_t>(step_index)).bind(3, current.hex());
  if (!TRY(st.step())) return std::optional<StepCacheEntry>{};
  return std::optional<StepCacheEntry>(TRY(read_entry(st)));
}

Status SqliteMetadata::record_image_build(const ImageBuildRecord& b) {
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

Result<std::vector<ImageBuildRecord>> SqliteMetadata::image_builds(const std::string& image, int limit) {
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

Result<std::optional<Digest>> SqliteMetadata::manifest_for_image_key(const Digest& image_key) {
  auto st = TRY(db_.prepare("SELECT manifest_digest FROM image_builds WHERE image_key = ? ORDER BY id DESC LIMIT 1"));
  st.bind(1, image_key.hex());
  if (!TRY(st.step())) return std::optional<Digest>{};
  return std::optional<Digest>(TRY(column_digest(st, 0, "manifest_digest")));
}

Result<std::optional<DeferredStep>> SqliteMetadata::find_deferred_step(const Digest& key) {
  auto st = TRY(db_.prepare(
      "SELECT entry, registry, repository, insecure, created FROM step_cache_deferred WHERE key = ?1"));
  st.bind(1, key.str());
  if (!TRY(st.step())) return std::optional<DeferredStep>();
  return std::optional<DeferredStep>(DeferredStep{.key = key,
                                                  .entry = st.column_text(0),
                                                  .registry = st.column_text(1),
                                                  .repository = st.column_text(2),
                                                  .insecure = st.column_int64(3) != 0,
                                                  .created = st.column_int64(4)});
}

Status SqliteMetadata::defer_steps(const std::vector<DeferredStep>& steps) {
  auto tx = TRY(db_.transaction());
  auto st = TRY(db_.prepare(
      "INSERT OR REPLACE INTO step_cache_deferred (key, entry, registry, repository, insecure, created) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
  for (const auto& d : steps) {
    TRY(st.reset());
    st.bind(1, d.key.str()).bind(2, d.entry).bind(3, d.registry).bind(4, d.repository);
    st.bind(5, std::int64_t{d.insecure ? 1 : 0}).bind(6, d.created);
    TRY_CTX(st.run(), "deferring step " + d.key.str());
  }
  return tx.commit();
}

Status SqliteMetadata::adopt_deferred_step(const StepCacheEntry& entry) {
  auto tx = TRY(db_.transaction());
  TRY(put_step(entry));
  auto done = TRY(db_.prepare("DELETE FROM step_cache_deferred WHERE key = ?1"));
  done.bind(1, entry.key.str());
  TRY(done.run());
  return tx.commit();
}

}  // namespace gantry::cache
