// PgMetadata (pg_metadata.h): the build step cache, the image builds
// --explain compares against, and the deferred entries of a shared cache,
// with the meaning of cache/sqlite_step_cache.cpp.
#include <nlohmann/json.hpp>

#include "pgstore/pg_metadata.h"

namespace gantry::pgstore {

using nlohmann::json;

namespace {

constexpr const char* kEntryColumns =
    "key, record, layer_digest, layer_diff_id, layer_size, layer_media_type, config_change, image, step_index, created";

Result<Digest> column_digest(const Rows& rows, int i, int col, const char* what) {
  auto d = Digest::parse(rows.text(i, col));
  if (!d) return fail(ErrorKind::corrupt, std::string("step_cache ") + what + ": " + d.error().message());
  return *d;
}

Result<StepCacheEntry> read_entry(const Rows& rows, int i) {
  StepCacheEntry e{.key = TRY(Digest::from_hex(rows.text(i, 0)))};
  e.record = rows.text(i, 1);
  if (!rows.is_null(i, 2)) {
    e.layer = cache::LayerDescriptor{.digest = TRY(column_digest(rows, i, 2, "layer_digest")),
                                     .diff_id = TRY(column_digest(rows, i, 3, "layer_diff_id")),
                                     .size = static_cast<std::uint64_t>(rows.int64(i, 4)),
                                     .media_type = rows.text(i, 5)};
  }
  e.config_change = TRY_CTX(cache::ConfigChange::parse(rows.text(i, 6)), "step_cache " + e.key.hex());
  e.image = rows.text(i, 7);
  e.step_index = static_cast<int>(rows.int64(i, 8));
  e.created = rows.int64(i, 9);
  return e;
}

Result<std::optional<StepCacheEntry>> first_entry(const Rows& rows) {
  if (rows.empty()) return std::optional<StepCacheEntry>{};
  return std::optional<StepCacheEntry>(TRY(read_entry(rows, 0)));
}

}  // namespace

Result<std::optional<StepCacheEntry>> PgMetadata::find_step(const Digest& key) {
  return first_entry(
      TRY(conn_->exec(std::string("SELECT ") + kEntryColumns + " FROM step_cache WHERE key = $1", {key.hex()})));
}

Status PgMetadata::put_step(const StepCacheEntry& e) {
  // First writer wins: equal keys mean equal inputs.
  const bool layer = e.layer.has_value();
  TRY_CTX(conn_->exec(std::string("INSERT INTO step_cache (") + kEntryColumns +
                          ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (key) DO NOTHING",
                      {e.key.hex(), e.record, layer ? Param(e.layer->digest.str()) : Param(std::nullopt),
                       layer ? Param(e.layer->diff_id.str()) : Param(std::nullopt),
                       layer ? Param(static_cast<std::int64_t>(e.layer->size)) : Param(std::nullopt),
                       layer ? Param(e.layer->media_type) : Param(std::nullopt), e.config_change.to_json(), e.image,
                       e.step_index, e.created}),
          "recording step " + e.key.hex());
  return {};
}

Result<std::vector<Digest>> PgMetadata::step_keys() {
  auto rows = TRY(conn_->exec("SELECT key FROM step_cache ORDER BY key"));
  std::vector<Digest> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(TRY(Digest::from_hex(rows.text(i, 0))));
  return out;
}

Result<std::optional<StepCacheEntry>> PgMetadata::previous_step(const std::string& image, int step_index,
                                                                const Digest& current) {
  auto last = TRY(image_builds(image, 1));
  if (!last.empty() && step_index < static_cast<int>(last[0].step_keys.size()) &&
      last[0].step_keys[step_index] != current) {
    auto entry = TRY(find_step(last[0].step_keys[step_index]));
    if (entry) return entry;
  }
  return first_entry(TRY(conn_->exec(std::string("SELECT ") + kEntryColumns +
                                         " FROM step_cache WHERE image = $1 AND step_index = $2 AND key <> $3"
                                         " ORDER BY created DESC, seq DESC LIMIT 1",
                                     {image, step_index, current.hex()})));
}

Status PgMetadata::record_image_build(const ImageBuildRecord& b) {
  json keys = json::array();
  for (const auto& k : b.step_keys) keys.push_back(k.hex());
  TRY_CTX(conn_->exec("INSERT INTO image_builds (image, manifest_digest, step_keys, created, image_key)"
                      " VALUES ($1, $2, $3, $4, $5)",
                      {b.image, b.manifest_digest.str(), keys.dump(), b.created,
                       b.image_key ? Param(b.image_key->hex()) : Param(std::nullopt)}),
          "recording the build of " + b.image);
  return {};
}

Result<std::vector<ImageBuildRecord>> PgMetadata::image_builds(const std::string& image, int limit) {
  auto rows = TRY(conn_->exec("SELECT manifest_digest, step_keys, created, image_key FROM image_builds"
                              " WHERE image = $1 ORDER BY id DESC LIMIT $2",
                              {image, limit}));
  std::vector<ImageBuildRecord> out;
  for (int i = 0; i < rows.size(); ++i) {
    ImageBuildRecord b{.image = image, .manifest_digest = TRY(column_digest(rows, i, 0, "manifest_digest"))};
    try {
      for (const auto& k : json::parse(rows.text(i, 1)))
        b.step_keys.push_back(TRY(Digest::from_hex(k.get<std::string>())));
    } catch (const json::exception& e) {
      return fail(ErrorKind::corrupt, "image_builds " + image + ": step_keys: " + e.what());
    }
    b.created = rows.int64(i, 2);
    if (!rows.is_null(i, 3)) b.image_key = TRY(Digest::from_hex(rows.text(i, 3)));
    out.push_back(std::move(b));
  }
  return out;
}

Result<std::optional<Digest>> PgMetadata::manifest_for_image_key(const Digest& image_key) {
  auto rows = TRY(conn_->exec("SELECT manifest_digest FROM image_builds WHERE image_key = $1 ORDER BY id DESC LIMIT 1",
                              {image_key.hex()}));
  if (rows.empty()) return std::optional<Digest>{};
  return std::optional<Digest>(TRY(column_digest(rows, 0, 0, "manifest_digest")));
}

Result<std::optional<DeferredStep>> PgMetadata::find_deferred_step(const Digest& key) {
  auto rows = TRY(conn_->exec(
      "SELECT entry, registry, repository, insecure, created FROM step_cache_deferred WHERE key = $1", {key.str()}));
  if (rows.empty()) return std::optional<DeferredStep>();
  return std::optional<DeferredStep>(DeferredStep{.key = key,
                                                  .entry = rows.text(0, 0),
                                                  .registry = rows.text(0, 1),
                                                  .repository = rows.text(0, 2),
                                                  .insecure = rows.boolean(0, 3),
                                                  .created = rows.int64(0, 4)});
}

Status PgMetadata::defer_steps(const std::vector<DeferredStep>& steps) {
  return conn_->transaction([&]() -> Status {
    for (const auto& d : steps)
      TRY_CTX(conn_->exec("INSERT INTO step_cache_deferred (key, entry, registry, repository, insecure, created)"
                          " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO UPDATE SET entry = excluded.entry,"
                          " registry = excluded.registry, repository = excluded.repository,"
                          " insecure = excluded.insecure, created = excluded.created",
                          {d.key.str(), d.entry, d.registry, d.repository, d.insecure, d.created}),
              "deferring step " + d.key.str());
    return {};
  });
}

Status PgMetadata::adopt_deferred_step(const StepCacheEntry& entry) {
  return conn_->transaction([&]() -> Status {
    TRY(put_step(entry));
    TRY(conn_->exec("DELETE FROM step_cache_deferred WHERE key = $1", {entry.key.str()}));
    return {};
  });
}

}  // namespace gantry::pgstore
