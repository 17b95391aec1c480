#include "runner/build_explain.h"

namespace gantry::runner {

Result<std::string> explain_miss(cache::Metadata& cache, const std::string& history, const std::string& image, int index,
                                 const std::string& description, const cache::StepRecord& record,
                                 const Digest& key, bool no_cache, bool layer_gone) {
  const std::string head = image + ": step #" + std::to_string(index + 1) + " (" + description + ") missed: ";
  if (no_cache) return head + "--no-cache";
  if (layer_gone) return head + "its cached layer is no longer in the store";
  auto previous = TRY(cache.previous_step(history, index, key));
  if (!previous) return head + "no earlier build of " + image + " has a step #" + std::to_string(index + 1);
  auto before = cache::StepRecord::from_text(previous->record);
  if (!before) return head + "the earlier record is unreadable (" + before.error().message() + ")";
  auto changes = cache::diff_records(*before, record);
  // The parent only matters when nothing of the step itself changed.
  if (changes.size() > 1 && changes.back().field == "parent" && changes.back().detail == "an earlier step changed")
    changes.pop_back();
  if (changes.empty()) return head + "the record equals the earlier one's but its key is not cached";
  std::string text = head;
  for (std::size_t i = 0; i < changes.size(); ++i)
    text += (i ? "; " : "") + changes[i].field + " changed (" + changes[i].detail + ")";
  return text;
}

}  // namespace gantry::runner
