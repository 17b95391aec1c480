// The build step cache in meta.db: step key -> the record it was computed
// from, the layer the step produced (none for env/workdir/user steps) and the
// config change it made. Plus, per image name, the step keys of its latest
// builds, so --explain can diff a miss against the nearest earlier record.
//
// Tables (migrations "0200-step-cache" in meta_schema.cpp):
//   step_cache(key PRIMARY KEY  hex sha256 (step_key.h),
//              record           the step-key record, JSON text,
//              layer_digest, layer_diff_id, layer_size, layer_media_type
//                               NULL for config-only steps,
//              config_change    JSON: {"env": [["K","V"],...], "workdir": "...", "user": "..."}
//                               (only the keys the step sets),
//              image, step_index  the image and 0-based step index that first made it,
//              created          unix seconds)
//   image_builds(id, image (repo:file:name), manifest_digest, step_keys JSON array of hex, created,
//                image_key   hash of the last step key + entrypoint/cmd/labels ("0201-image-key"))
// The gc root "step_cache" keeps every cached layer blob alive.
//
// A key is written once: the first writer wins (INSERT OR IGNORE), which is
// right because equal keys mean equal inputs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cache/layer_writer.h"
#include "cache/step_key.h"
#include "common/digest.h"

namespace gantry::cache {

class MetaDb;

// What a config-only step (env, workdir, user) changes in the image config.
struct ConfigChange {
  std::vector<std::pair<std::string, std::string>> env;  // set, in order
  std::optional<std::string> workdir;
  std::optional<std::string> user;

  bool empty() const { return env.empty() && !workdir && !user; }
  std::string to_json() const;
  static Result<ConfigChange> parse(const std::string& json);
  bool operator==(const ConfigChange&) const = default;
};

struct StepCacheEntry {
  Digest key;
  std::string record;                   // StepRecord::text()
  std::optional<LayerDescriptor> layer; // none for config-only steps
  ConfigChange config_change;
  std::string image;
  int step_index = 0;
  std::int64_t created = 0;             // unix seconds
};

struct ImageBuildRecord {
  std::string image;
  Digest manifest_digest;
  std::vector<Digest> step_keys;
  std::int64_t created = 0;
  std::optional<Digest> image_key;  // everything the image's config and layers follow from
};

class StepCache {
 public:
  explicit StepCache(MetaDb& db) : db_(db) {}

  Result<std::optional<StepCacheEntry>> lookup(const Digest& key);
  // Inserts unless the key is already there (then the stored entry stays).
  Status put(const StepCacheEntry& entry);
  // Every key, for export (--cache-to) and tests.
  Result<std::vector<Digest>> keys();

  // The latest earlier record for (image, step_index) whose key differs from
  // `current`: the step at that index of the image's latest recorded build
  // when there is one, else the newest cache entry made at that position.
  Result<std::optional<StepCacheEntry>> previous(const std::string& image, int step_index, const Digest& current);

  Status record_build(const ImageBuildRecord& build);
  // Builds of `image`, newest first (at most `limit`).
  Result<std::vector<ImageBuildRecord>> builds(const std::string& image, int limit = 1);
  // The manifest of the latest build with this image key (the fast path of a
  // fully cached build: no config or manifest to write again).
  Result<std::optional<Digest>> manifest_for(const Digest& image_key);

 private:
  MetaDb& db_;
};

}  // namespace gantry::cache
