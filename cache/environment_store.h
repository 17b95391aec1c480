// Environment pointers and the promotion history in meta.db.
//
// A pointer says which manifest digest of an image is in an environment now,
// with the commit and run that put it there, when, and the digest a rollback
// would restore. Every change is an event in `promotions` (kind "promote" or
// "rollback"), so the history of each environment can be replayed.
//
// Tables (migration "0101-environments", in meta_schema.cpp):
//   environments(image, environment, digest, commit_id, run_id, time_ms,
//                previous_digest, event_id)
//   promotions(id, kind, image, environment, digest, replaced_digest,
//              pointer_previous, commit_id, run_id, time_ms)
// Migration "0104-projects" keys both by project: environments(project, image,
// environment, ...) and promotions.project. Two repositories that both name
// an image `app` never move each other's pointers.
// `replaced_digest` is what the event moved the pointer away from;
// `pointer_previous` is the rollback target the pointer had after the event.
#pragma once

#include <nlohmann/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace gantry::cache {

class Store;

struct EnvironmentPointer {
  std::string project;
  std::string image;
  std::string environment;
  std::string digest;
  std::string commit;
  std::string run_id;
  std::int64_t time_ms = 0;
  std::string previous_digest;  // what `rollback` restores ("" = nothing)
  std::int64_t event_id = 0;
};

struct PromotionEvent {
  std::int64_t id = 0;
  std::string kind;  // "promote" | "rollback"
  std::string project;
  std::string image;
  std::string environment;
  std::string digest;
  std::string replaced_digest;
  std::string pointer_previous;
  std::string commit;
  std::string run_id;
  std::int64_t time_ms = 0;
};

class EnvironmentStore {
 public:
  explicit EnvironmentStore(Store& store) : store_(store) {}

  // Every call names the project its rows belong to.
  Result<std::optional<EnvironmentPointer>> get(const std::string& project, const std::string& image,
                                                const std::string& environment);
  // Every pointer (of one project / image when non-empty), by project, image,
  // then promotion order.
  Result<std::vector<EnvironmentPointer>> list(const std::string& project, const std::string& image = {});

  // Moves the pointer to `digest` and records the event, in one transaction.
  // Returns nullopt (and records nothing) when the pointer already holds it.
  Result<std::optional<PromotionEvent>> promote(const std::string& project, const std::string& image, const std::string& environment,
                                                const std::string& digest, const std::string& commit,
                                                const std::string& run_id);
  // Moves the pointer back to its previous digest (conflict when there is
  // none; not_found when the environment has no pointer), recorded as a
  // "rollback" event carrying the commit and run that first brought it.
  Result<PromotionEvent> rollback(const std::string& project, const std::string& image, const std::string& environment);

  // Whether `digest` of `image` was ever promoted into `environment`.
  Result<bool> was_promoted(const std::string& project, const std::string& image, const std::string& environment, const std::string& digest);

  // Newest first; filters are optional ("" = any).
  Result<std::vector<PromotionEvent>> history(const std::string& project, const std::string& image = {},
                                              const std::string& run_id = {}, int limit = 100);

 private:
  Store& store_;
};

// "2026-11-25T21:04:05Z" for unix milliseconds.
std::string format_time_utc(std::int64_t ms);

// A promotion or rollback event as `gantry history --json` and the server's
// "promotion" events show it: {"id","kind","project","image","environment",
// "digest","previous_digest","commit","run","time"}.
nlohmann::json promotion_event_json(const PromotionEvent& e);

}  // namespace gantry::cache
