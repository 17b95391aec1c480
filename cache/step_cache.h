// The build step cache's records (the queries are on Metadata, metadata.h):
// step key -> the record it was computed
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

// A step-cache entry imported from a shared cache (registry/step_cache_share)
// whose layer is not local yet: it waits here until a build first hits its key.
struct DeferredStep {
  Digest key;
  std::string entry;       // the entry as the shared cache's JSON has it
  std::string registry;    // host[:port]
  std::string repository;
  bool insecure = false;   // the registry was reached over plain HTTP
  std::int64_t created = 0;  // unix seconds
};

}  // namespace gantry::cache
