// --explain: why a step missed the cache, in one sentence, from the
// difference between its key record and the nearest earlier record of the
// same image and step index (ninja's -d explain). Private to runner/build_*.cpp.
#pragma once

#include <string>

#include "cache/metadata.h"
#include "cache/step_key.h"

namespace gantry::runner {

// "app: step #3 (run: make) missed: env: MODE: \"dev\" -> \"prod\"".
// `history` names the image in the step cache (repository, file, image);
// `image` is its name for people.
Result<std::string> explain_miss(cache::Metadata& cache, const std::string& history, const std::string& image, int index,
                                 const std::string& description, const cache::StepRecord& record,
                                 const Digest& key, bool no_cache, bool layer_gone);

}  // namespace gantry::runner
