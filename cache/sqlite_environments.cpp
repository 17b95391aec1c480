// SqliteMetadata (sqlite_metadata.h): environment pointers and the promotion
// history. A pointer says which manifest digest of an image is in an
// environment now, with the commit and run that put it there, when, and the
// digest a rollback would restore. Every change is an event in `promotions`
// (kind "promote" or "rollback"), so the history of each environment can be
// replayed; projects never move each other's pointers. A refused promotion is
// an event too (kind "refused", with the rule's reason) that moves nothing:
// the rule and rollback skip it.
#include "cache/sqlite_metadata.h"

namespace gantry::cache {

namespace {

constexpr const char* kPointerColumns =
    "image, environment, digest, commit_id, run_id, time_ms, previous_digest, event_id, project";
constexpr const char* kEventColumns =
    "id, kind, image, environment, digest, replaced_digest, pointer_previous, commit_id, run_id, time_ms, project,"
    " reason";

EnvironmentPointer read_pointer(const Statement& st) {
  EnvironmentPointer p;
  p.image = st.column_text(0);
  p.environment = st.column_text(1);
  p.digest = st.column_text(2);
  p.commit = st.column_text(3);
  p.run_id = st.column_text(4);
  p.time_ms = st.column_int64(5);
  p.previous_digest = st.column_text(6);
  p.event_id = st.column_int64(7);
  p.project = st.column_text(8);
  return p;
}

Result<PromotionEvent> read_event(const Statement& st) {
  PromotionEvent e;
  e.id = st.column_int64(0);
  e.image = st.column_text(2);
  e.environment = st.column_text(3);
  e.digest = st.column_text(4);
  e.replaced_digest = st.column_text(5);
  e.pointer_previous = st.column_text(6);
  e.commit = st.column_text(7);
  e.run_id = st.column_text(8);
  e.time_ms = st.column_int64(9);
  e.project = st.column_text(10);
  e.reason = st.column_text(11);
  e.kind = TRY_CTX(parse_promotion_kind(st.column_text(1)), "reading promotion event " + std::to_string(e.id));
  return e;
}

// Inserts the event (inside the caller's transaction).
Result<PromotionEvent> insert_event(MetaDb& db, PromotionEvent e) {
  auto ins = TRY(db.prepare(
      "INSERT INTO promotions (kind, image, environment, digest, replaced_digest, pointer_previous, commit_id,"
      " run_id, time_ms, project, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
  ins.bind(10, e.project).bind(11, e.reason);
  ins.bind(1, to_string(e.kind)).bind(2, e.image).bind(3, e.environment).bind(4, e.digest).bind(5, e.replaced_digest);
  ins.bind(6, e.pointer_previous).bind(7, e.commit).bind(8, e.run_id).bind(9, e.time_ms);
  TRY_CTX(ins.run(), "recording " + std::string(to_string(e.kind)) + " of " + e.image + " to " + e.environment);
  e.id = sqlite3_last_insert_rowid(db.handle());
  return e;
}

// Inserts the event and moves the pointer to it (inside the caller's transaction).
Result<PromotionEvent> apply_event(MetaDb& db, PromotionEvent e) {
  e = TRY(insert_event(db, std::move(e)));
  auto ptr = TRY(db.prepare(
      "INSERT OR REPLACE INTO environments (image, environment, digest, commit_id, run_id, time_ms,"
      " previous_digest, event_id, project) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
  ptr.bind(9, e.project);
  ptr.bind(1, e.image).bind(2, e.environment).bind(3, e.digest).bind(4, e.commit).bind(5, e.run_id);
  ptr.bind(6, e.time_ms).bind(7, e.pointer_previous).bind(8, e.id);
  TRY_CTX(ptr.run(), "moving " + e.image + " in " + e.environment);
  return e;
}

Result<std::optional<EnvironmentPointer>> read_pointer_row(MetaDb& db, const std::string& project,
                                                           const std::string& image, const std::string& environment) {
  auto st = TRY(db.prepare(std::string("SELECT ") + kPointerColumns +
                           " FROM environments WHERE image = ?1 AND environment = ?2 AND project = ?3"));
  st.bind(1, image).bind(2, environment).bind(3, project);
  if (!TRY(st.step())) return std::optional<EnvironmentPointer>();
  return std::optional<EnvironmentPointer>(read_pointer(st));
}

Result<bool> promoted_before(MetaDb& db, const std::string& project, const std::string& image,
                             const std::string& environment, const std::string& digest) {
  auto st = TRY(db.prepare(
      "SELECT 1 FROM promotions WHERE image = ?1 AND environment = ?2 AND digest = ?3 AND project = ?4"
      " AND kind != 'refused' LIMIT 1"));
  st.bind(1, image).bind(2, environment).bind(3, digest).bind(4, project);
  return st.step();
}

}  // namespace

Result<std::optional<EnvironmentPointer>> SqliteMetadata::environment_pointer(const std::string& project, const std::string& image,
                                                                const std::string& environment) {
  return read_pointer_row(db_, project, image, environment);
}

Result<std::vector<EnvironmentPointer>> SqliteMetadata::environment_pointers(const std::string& project, const std::string& image) {
  // Environments in the order they were first promoted to: the promotion order.
  std::string sql = std::string("SELECT ") + kPointerColumns +
                    " FROM environments e WHERE (?1 = '' OR image = ?1) AND (?2 = '' OR project = ?2)";
  sql += " ORDER BY project, image, (SELECT MIN(p.id) FROM promotions p WHERE p.project = e.project"
         " AND p.image = e.image AND p.environment = e.environment AND p.kind != 'refused'), environment";
  auto st = TRY(db_.prepare(sql));
  st.bind(1, image).bind(2, project);
  std::vector<EnvironmentPointer> out;
  while (TRY(st.step())) out.push_back(read_pointer(st));
  return out;
}

Result<std::optional<PromotionEvent>> SqliteMetadata::promote(const PointerMove& m) {
  const std::string what = "promoting " + m.image + " " + m.digest + " to " + m.environment;
  auto tx = TRY(db_.transaction());
  auto current = TRY(read_pointer_row(db_, m.project, m.image, m.environment));
  TRY(check_pointer_expected(current, m.expected_digest, what));
  for (const auto& before : m.must_have_passed)
    if (!TRY(promoted_before(db_, m.project, m.image, before, m.digest)))
      return fail(ErrorKind::conflict, "refusing " + what + ": it has not passed " + before);
  if (current && current->digest == m.digest) return std::optional<PromotionEvent>();
  auto e = TRY(apply_event(db_, promotion_event(m, current, clock_->now_ms())));
  TRY(tx.commit());
  return std::optional<PromotionEvent>(std::move(e));
}

Result<PromotionEvent> SqliteMetadata::refuse(const PointerMove& m, const std::string& reason) {
  auto tx = TRY(db_.transaction());
  auto current = TRY(read_pointer_row(db_, m.project, m.image, m.environment));
  auto e = TRY(insert_event(db_, refusal_event(m, current, reason, clock_->now_ms())));
  TRY(tx.commit());
  return e;
}

Result<PromotionEvent> SqliteMetadata::rollback(const std::string& project, const std::string& image,
                                                const std::string& environment,
                                                const std::optional<std::string>& expected_digest) {
  auto tx = TRY(db_.transaction());
  auto current = TRY(read_pointer_row(db_, project, image, environment));
  if (!current)
    return fail(ErrorKind::not_found, "cannot roll back " + image + " in " + environment +
                                          ": it was never promoted there (see gantry env ls)");
  if (current->previous_digest.empty())
    return fail(ErrorKind::conflict, "cannot roll back " + image + " in " + environment + ": " +
                                         current->digest + " has no previous digest there");
  TRY(check_pointer_expected(current, expected_digest, "rolling back " + image + " in " + environment));
  // The newest event before the current one that brought the target digest in:
  // it carries the commit, run and rollback target to restore.
  auto st = TRY(db_.prepare(std::string("SELECT ") + kEventColumns +
                           " FROM promotions WHERE image = ?1 AND environment = ?2 AND digest = ?3 AND id < ?4"
                           " AND project = ?5 AND kind != 'refused' ORDER BY id DESC LIMIT 1"));
  st.bind(1, image).bind(2, environment).bind(3, current->previous_digest).bind(4, current->event_id);
  st.bind(5, project);
  if (!TRY(st.step()))
    return fail(ErrorKind::corrupt, "promotion history of " + image + " in " + environment + " has no event for " +
                                        current->previous_digest);
  const PromotionEvent origin = TRY(read_event(st));
  auto e = TRY(apply_event(db_, rollback_event(*current, origin, clock_->now_ms())));
  TRY(tx.commit());
  return e;
}

Result<bool> SqliteMetadata::was_promoted(const std::string& project, const std::string& image,
                                          const std::string& environment, const std::string& digest) {
  return promoted_before(db_, project, image, environment, digest);
}

Result<std::vector<PromotionEvent>> SqliteMetadata::promotion_history(const PromotionFilter& f) {
  auto st = TRY(db_.prepare(std::string("SELECT ") + kEventColumns +
                            " FROM promotions WHERE (?1 = '' OR image = ?1) AND (?2 = '' OR run_id = ?2)"
                            " AND (?3 = '' OR project = ?3) AND (?4 = '' OR environment = ?4)"
                            " ORDER BY id DESC LIMIT ?5"));
  st.bind(1, f.image).bind(2, f.run_id).bind(3, f.project).bind(4, f.environment).bind(5, std::int64_t{f.limit});
  std::vector<PromotionEvent> out;
  while (TRY(st.step())) out.push_back(TRY(read_event(st)));
  return out;
}

}  // namespace gantry::cache
