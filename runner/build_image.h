// Building one image of the pipeline: the step loop (key, hit or miss,
// record) and the final commit + tags. Private to runner/build_*.cpp.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/image_store.h"
#include "cache/step_cache.h"
#include "runner/build.h"

namespace gantry::runner {

// What an image starts from.
struct BaseImage {
  std::string parent;                        // cache::parent_of_image(digest) or "scratch"
  cache::ImageConfig config;                 // empty for scratch
  std::vector<cache::LayerDescriptor> layers;
};

// scratch, or a manifest already in the store.
Result<BaseImage> load_base(cache::Store& store, const std::string& from, const cache::TagScope& scope = {});
Result<BaseImage> load_base(cache::Store& store, const Digest& manifest_digest);

// One lock per step key, so images built in parallel that share a step run
// it once: the second waits, then finds it in the cache.
class KeyLocks {
 public:
  std::shared_ptr<std::mutex> get(const Digest& key);

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;
};

Result<ImageOutcome> build_one_image(const BuildRequest& request, const pipeline::ImageDef& image,
                                     const BaseImage& base, BuildCounters& counters, KeyLocks& locks);

}  // namespace gantry::runner
