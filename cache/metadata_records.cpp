#include "cache/metadata_records.h"

#include <chrono>

#include "common/units.h"

namespace gantry::cache {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_time_utc(std::int64_t ms) { return format_utc_time(ms / 1000); }

nlohmann::json promotion_event_json(const PromotionEvent& e) {
  return {{"id", e.id},
          {"kind", e.kind},
          {"project", e.project},
          {"image", e.image},
          {"environment", e.environment},
          {"digest", e.digest},
          {"previous_digest", e.replaced_digest},
          {"commit", e.commit},
          {"run", e.run_id},
          {"time", format_time_utc(e.time_ms)}};
}

}  // namespace gantry::cache
