#include "cache/metadata_records.h"

#include <chrono>

#include "common/units.h"

namespace gantry::cache {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_time_utc(std::int64_t ms) { return format_utc_time(ms / 1000); }

PromotionEvent promotion_event(const PointerMove& m, const std::optional<EnvironmentPointer>& current,
                               std::int64_t time_ms) {
  PromotionEvent e;
  e.kind = PromotionKind::promote;
  e.project = m.project;
  e.image = m.image;
  e.environment = m.environment;
  e.digest = m.digest;
  e.replaced_digest = current ? current->digest : "";
  e.pointer_previous = e.replaced_digest;
  e.commit = m.commit;
  e.run_id = m.run_id;
  e.time_ms = time_ms;
  return e;
}

PromotionEvent refusal_event(const PointerMove& m, const std::optional<EnvironmentPointer>& current,
                             const std::string& reason, std::int64_t time_ms) {
  PromotionEvent e = promotion_event(m, current, time_ms);
  e.kind = PromotionKind::refused;
  e.pointer_previous = "";  // no pointer takes it: never a rollback target
  e.reason = reason;
  return e;
}

PromotionEvent rollback_event(const EnvironmentPointer& current, const PromotionEvent& origin, std::int64_t time_ms) {
  PromotionEvent e;
  e.kind = PromotionKind::rollback;
  e.project = current.project;
  e.image = current.image;
  e.environment = current.environment;
  e.digest = current.previous_digest;
  e.replaced_digest = current.digest;
  e.pointer_previous = origin.pointer_previous;
  e.commit = origin.commit;
  e.run_id = origin.run_id;
  e.time_ms = time_ms;
  return e;
}

nlohmann::json promotion_event_json(const PromotionEvent& e) {
  nlohmann::json doc = {{"id", e.id},
          {"kind", to_string(e.kind)},
          {"project", e.project},
          {"image", e.image},
          {"environment", e.environment},
          {"digest", e.digest},
          {"previous_digest", e.replaced_digest},
          {"commit", e.commit},
          {"run", e.run_id},
          {"time", format_time_utc(e.time_ms)}};
  if (e.kind == PromotionKind::refused) doc["reason"] = e.reason;
  return doc;
}

Result<RunRecord> pick_run(const std::string& part, std::vector<RunRecord> containing) {
  std::vector<RunRecord> exact, ends, inside;
  for (auto& r : containing) {
    if (r.id == part) exact.push_back(std::move(r));
    else if (r.id.starts_with(part) || r.id.ends_with(part)) ends.push_back(std::move(r));
    else inside.push_back(std::move(r));
  }
  std::vector<RunRecord>* found = !exact.empty() ? &exact : !ends.empty() ? &ends : &inside;
  if (found->empty()) return fail(ErrorKind::not_found, "run '" + part + "' not found (see gantry history)");
  if (found->size() > 1) {
    std::string candidates;
    constexpr std::size_t kShown = 10;
    for (std::size_t i = 0; i < found->size() && i < kShown; ++i)
      candidates += "\n  " + (*found)[i].id + "  " + std::string(to_string((*found)[i].status)) + "  " +
                    (*found)[i].commit.substr(0, 12);
    if (found->size() > kShown) candidates += "\n  ... (" + std::to_string(found->size() - kShown) + " more)";
    return fail(ErrorKind::invalid_input, "run '" + part + "' is ambiguous: " + std::to_string(found->size()) +
                                              " runs match; give more of the id:" + candidates);
  }
  return std::move(found->front());
}

Status check_pointer_expected(const std::optional<EnvironmentPointer>& current,
                              const std::optional<std::string>& expected, const std::string& what) {
  if (!expected) return {};
  const std::string now = current ? current->digest : "";
  if (now == *expected) return {};
  return fail(ErrorKind::conflict, what + ": the pointer moved meanwhile (expected " +
                                       (expected->empty() ? std::string("none") : *expected) + ", now " +
                                       (now.empty() ? std::string("none") : now) + ")");
}

}  // namespace gantry::cache
