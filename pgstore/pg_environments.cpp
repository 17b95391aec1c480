// PgMetadata (pg_metadata.h): environment pointers and the promotion history,
// with the meaning of cache/sqlite_environments.cpp. A move is one
// transaction: lock (advisory, per pointer), read the pointer FOR UPDATE,
// check the compare-and-swap and the rule, write the event and the pointer.
#include "pgstore/pg_metadata.h"

namespace gantry::pgstore {

namespace {

constexpr const char* kPointerColumns =
    "image, environment, digest, commit_id, run_id, time_ms, previous_digest, event_id, project";
constexpr const char* kEventColumns =
    "id, kind, image, environment, digest, replaced_digest, pointer_previous, commit_id, run_id, time_ms, project,"
    " reason";

EnvironmentPointer read_pointer(const Rows& rows, int i) {
  EnvironmentPointer p;
  p.image = rows.text(i, 0);
  p.environment = rows.text(i, 1);
  p.digest = rows.text(i, 2);
  p.commit = rows.text(i, 3);
  p.run_id = rows.text(i, 4);
  p.time_ms = rows.int64(i, 5);
  p.previous_digest = rows.text(i, 6);
  p.event_id = rows.int64(i, 7);
  p.project = rows.text(i, 8);
  return p;
}

Result<PromotionEvent> read_event(const Rows& rows, int i) {
  PromotionEvent e;
  e.id = rows.int64(i, 0);
  e.image = rows.text(i, 2);
  e.environment = rows.text(i, 3);
  e.digest = rows.text(i, 4);
  e.replaced_digest = rows.text(i, 5);
  e.pointer_previous = rows.text(i, 6);
  e.commit = rows.text(i, 7);
  e.run_id = rows.text(i, 8);
  e.time_ms = rows.int64(i, 9);
  e.project = rows.text(i, 10);
  e.reason = rows.text(i, 11);
  e.kind = TRY_CTX(cache::parse_promotion_kind(rows.text(i, 1)), "reading promotion event " + std::to_string(e.id));
  return e;
}

// Serializes every move of one pointer until the transaction ends, also when
// the pointer has no row yet (FOR UPDATE has nothing to lock then). The key
// is the delimited (project, image, environment): a hash collision only
// serializes two unrelated pointers, it never lets two moves of one through.
Status lock_pointer(PgConn& conn, const std::string& project, const std::string& image,
                    const std::string& environment) {
  TRY_CTX(conn.exec("SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2 || chr(31) || $3, 17))",
                    {project, image, environment}),
          "locking the pointer of " + image + " in " + environment);
  return {};
}

Result<std::optional<EnvironmentPointer>> pointer_for_update(PgConn& conn, const std::string& project,
                                                             const std::string& image, const std::string& environment) {
  auto rows = TRY(conn.exec(std::string("SELECT ") + kPointerColumns +
                                " FROM environments WHERE project = $1 AND image = $2 AND environment = $3 FOR UPDATE",
                            {project, image, environment}));
  if (rows.empty()) return std::optional<EnvironmentPointer>();
  return std::optional<EnvironmentPointer>(read_pointer(rows, 0));
}

// Inserts the event (inside the caller's transaction).
Result<PromotionEvent> insert_event(PgConn& conn, PromotionEvent e) {
  auto id = TRY_CTX(conn.exec("INSERT INTO promotions (kind, project, image, environment, digest, replaced_digest,"
                              " pointer_previous, commit_id, run_id, time_ms, reason)"
                              " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                              {to_string(e.kind), e.project, e.image, e.environment, e.digest, e.replaced_digest,
                               e.pointer_previous, e.commit, e.run_id, e.time_ms, e.reason}),
                    "recording " + std::string(to_string(e.kind)) + " of " + e.image + " to " + e.environment);
  e.id = id.int64(0, 0);
  return e;
}

// Inserts the event and moves the pointer to it (inside the caller's transaction).
Result<PromotionEvent> apply_event(PgConn& conn, PromotionEvent e) {
  e = TRY(insert_event(conn, std::move(e)));
  TRY_CTX(conn.exec("INSERT INTO environments (project, image, environment, digest, commit_id, run_id, time_ms,"
                    " previous_digest, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                    " ON CONFLICT (project, image, environment) DO UPDATE SET digest = excluded.digest,"
                    " commit_id = excluded.commit_id, run_id = excluded.run_id, time_ms = excluded.time_ms,"
                    " previous_digest = excluded.previous_digest, event_id = excluded.event_id",
                    {e.project, e.image, e.environment, e.digest, e.commit, e.run_id, e.time_ms, e.pointer_previous,
                     e.id}),
          "moving " + e.image + " in " + e.environment);
  return e;
}

Result<bool> promoted_before(PgConn& conn, const std::string& project, const std::string& image,
                             const std::string& environment, const std::string& digest) {
  auto rows = TRY(conn.exec("SELECT 1 FROM promotions WHERE project = $1 AND image = $2 AND environment = $3"
                            " AND digest = $4 AND kind != 'refused' LIMIT 1",
                            {project, image, environment, digest}));
  return !rows.empty();
}

}  // namespace

Result<std::optional<EnvironmentPointer>> PgMetadata::environment_pointer(const std::string& project,
                                                                          const std::string& image,
                                                                          const std::string& environment) {
  auto rows = TRY(conn_->exec(std::string("SELECT ") + kPointerColumns +
                                  " FROM environments WHERE project = $1 AND image = $2 AND environment = $3",
                              {project, image, environment}));
  if (rows.empty()) return std::optional<EnvironmentPointer>();
  return std::optional<EnvironmentPointer>(read_pointer(rows, 0));
}

Result<std::vector<EnvironmentPointer>> PgMetadata::environment_pointers(const std::string& project,
                                                                         const std::string& image) {
  // Environments in the order they were first promoted to: the promotion order.
  auto rows = TRY(conn_->exec(std::string("SELECT ") + kPointerColumns +
                                  " FROM environments e WHERE ($1 = '' OR image = $1) AND ($2 = '' OR project = $2)"
                                  " ORDER BY project, image, (SELECT MIN(p.id) FROM promotions p WHERE"
                                  " p.project = e.project AND p.image = e.image AND p.environment = e.environment"
                                  " AND p.kind != 'refused'),"
                                  " environment",
                              {image, project}));
  std::vector<EnvironmentPointer> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(read_pointer(rows, i));
  return out;
}

Result<std::optional<PromotionEvent>> PgMetadata::promote(const PointerMove& m) {
  const std::string what = "promoting " + m.image + " " + m.digest + " to " + m.environment;
  return conn_->transaction([&]() -> Result<std::optional<PromotionEvent>> {
    TRY(lock_pointer(*conn_, m.project, m.image, m.environment));
    auto current = TRY(pointer_for_update(*conn_, m.project, m.image, m.environment));
    TRY(cache::check_pointer_expected(current, m.expected_digest, what));
    for (const auto& before : m.must_have_passed)
      if (!TRY(promoted_before(*conn_, m.project, m.image, before, m.digest)))
        return fail(ErrorKind::conflict, "refusing " + what + ": it has not passed " + before);
    if (current && current->digest == m.digest) return std::optional<PromotionEvent>();
    return std::optional<PromotionEvent>(TRY(apply_event(*conn_, cache::promotion_event(m, current, clock_->now_ms()))));
  });
}

Result<PromotionEvent> PgMetadata::refuse(const PointerMove& m, const std::string& reason) {
  return conn_->transaction([&]() -> Result<PromotionEvent> {
    TRY(lock_pointer(*conn_, m.project, m.image, m.environment));
    auto current = TRY(pointer_for_update(*conn_, m.project, m.image, m.environment));
    return insert_event(*conn_, cache::refusal_event(m, current, reason, clock_->now_ms()));
  });
}

Result<PromotionEvent> PgMetadata::rollback(const std::string& project, const std::string& image,
                                            const std::string& environment,
                                            const std::optional<std::string>& expected_digest) {
  return conn_->transaction([&]() -> Result<PromotionEvent> {
    TRY(lock_pointer(*conn_, project, image, environment));
    auto current = TRY(pointer_for_update(*conn_, project, image, environment));
    if (!current)
      return fail(ErrorKind::not_found, "cannot roll back " + image + " in " + environment +
                                            ": it was never promoted there (see gantry env ls)");
    if (current->previous_digest.empty())
      return fail(ErrorKind::conflict, "cannot roll back " + image + " in " + environment + ": " + current->digest +
                                           " has no previous digest there");
    TRY(cache::check_pointer_expected(current, expected_digest, "rolling back " + image + " in " + environment));
    // The newest event before the current one that brought the target digest
    // in: it carries the commit, run and rollback target to restore.
    auto origin_rows = TRY(conn_->exec(std::string("SELECT ") + kEventColumns +
                                           " FROM promotions WHERE project = $1 AND image = $2 AND environment = $3"
                                           " AND digest = $4 AND id < $5 AND kind != 'refused'"
                                           " ORDER BY id DESC LIMIT 1",
                                       {project, image, environment, current->previous_digest, current->event_id}));
    if (origin_rows.empty())
      return fail(ErrorKind::corrupt, "promotion history of " + image + " in " + environment + " has no event for " +
                                          current->previous_digest);
    return apply_event(*conn_, cache::rollback_event(*current, TRY(read_event(origin_rows, 0)), clock_->now_ms()));
  });
}

Result<bool> PgMetadata::was_promoted(const std::string& project, const std::string& image,
                                      const std::string& environment, const std::string& digest) {
  return promoted_before(*conn_, project, image, environment, digest);
}

Result<std::vector<PromotionEvent>> PgMetadata::promotion_history(const PromotionFilter& f) {
  auto rows = TRY(conn_->exec(std::string("SELECT ") + kEventColumns +
                                  " FROM promotions WHERE ($1 = '' OR image = $1) AND ($2 = '' OR run_id = $2)"
                                  " AND ($3 = '' OR project = $3) AND ($4 = '' OR environment = $4)"
                                  " ORDER BY id DESC LIMIT $5",
                              {f.image, f.run_id, f.project, f.environment, f.limit}));
  std::vector<PromotionEvent> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(TRY(read_event(rows, i)));
  return out;
}

}  // namespace gantry::pgstore
