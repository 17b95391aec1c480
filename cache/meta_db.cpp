#include "cache/meta_db.h"

#include "common/fault_injection.h"
#include "common/project_name.h"

#include <set>
#include <utility>

namespace gantry::cache {

// ---- Statement -------------------------------------------------------------

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}
Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}
Statement& Statement::bind_blob(int index, std::string_view bytes) {
  sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Result<bool> Statement::step() {
  std::lock_guard lock(db_->mutex());
  // A write outside a transaction commits on its own: a fault point
  // (common/fault_injection.h) before it, like Transaction::commit's.
  if (!sqlite3_stmt_busy(stmt_) && !sqlite3_stmt_readonly(stmt_) && sqlite3_get_autocommit(sqlite3_db_handle(stmt_)))
    TRY(fault::point(fault::Op::db_commit, db_->path()));
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string sql = sqlite3_sql(stmt_) ? sqlite3_sql(stmt_) : "";
  return fail(db_->error("step '" + sql.substr(0, 80) + "'", rc));
}

Status Statement::run() {
  for (;;) {
    bool row = TRY(step());
    if (!row) return {};
  }
}

Status Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return {};
}

std::int64_t Statement::column_int64(int col) const { return sqlite3_column_int64(stmt_, col); }
std::string Statement::column_text(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}
bool Statement::column_is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
int Statement::column_count() const { return sqlite3_column_count(stmt_); }

// ---- Transaction -----------------------------------------------------------

Transaction::Transaction(Transaction&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), lock_(std::move(other.lock_)), done_(std::exchange(other.done_, true)) {}

Transaction::~Transaction() {
  if (db_ && !done_) (void)db_->exec("ROLLBACK");
}

Status Transaction::commit() {
  if (done_) return fail(ErrorKind::internal, "transaction on " + db_->path() + " already finished");
  done_ = true;
  if (auto injected = fault::point(fault::Op::db_commit, db_->path()); !injected) {
    (void)db_->exec("ROLLBACK");
    return injected;
  }
  Status st = db_->exec("COMMIT");
  if (!st) (void)db_->exec("ROLLBACK");
  return st;
}

// ---- MetaDb ----------------------------------------------------------------

Error MetaDb::error(const std::string& op, int rc) const {
  const char* msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  ErrorKind kind = (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) ? ErrorKind::corrupt : ErrorKind::io;
  return Error(kind, "sqlite " + op + " " + path_ + ": " + (msg ? msg : sqlite3_errstr(rc)));
}

namespace {

// gantry_project(repo_url, repo): the project derived for a repository
// (common/project_name.h), for migrations that move rows into projects.
void sql_gantry_project(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  auto text = [&](int i) {
    const unsigned char* t = i < argc ? sqlite3_value_text(argv[i]) : nullptr;
    return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
  };
  std::string name = derived_project(text(1), text(0));
  sqlite3_result_text(ctx, name.c_str(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
}

}  // namespace

Result<std::unique_ptr<MetaDb>> MetaDb::open(const std::string& path) {
  sqlite3* handle = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &handle,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<MetaDb> db(new MetaDb(handle, path));
  if (rc != SQLITE_OK) return fail(db->error("open", rc));
  sqlite3_busy_timeout(handle, 30000);
  sqlite3_extended_result_codes(handle, 0);
  // Keep meta.db-wal and -shm when the last connection closes: otherwise
  // every short-lived gantry command (each `gantry exec`) recreates and
  // zero-fills the shared-memory index and deletes both files at exit.
  int persist_wal = 1;
  sqlite3_file_control(handle, "main", SQLITE_FCNTL_PERSIST_WAL, &persist_wal);
  // journal_size_limit=0: the last connection's checkpoint at close also
  // empties the (persistent) WAL. Otherwise its frames stay valid after the
  // checkpoint: every later command re-read and re-checksummed all of them to
  // rebuild the WAL index, and its own close copied them all into meta.db
  // again and fdatasync'ed it (10-25 ms of each `gantry exec` on a busy disk).
  TRY(db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
               "PRAGMA journal_size_limit=0;"));
  rc = sqlite3_create_function_v2(handle, "gantry_project", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
                                  sql_gantry_project, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return fail(db->error("registering gantry_project()", rc));
  TRY(db->migrate());
  return db;
}

MetaDb::~MetaDb() {
  if (db_) sqlite3_close_v2(db_);
}

Result<Statement> MetaDb::prepare(std::string_view sql) {
  std::lock_guard lock(mutex_);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return fail(error("prepare '" + std::string(sql.substr(0, 80)) + "'", rc));
  return Statement(this, stmt);
}

Status MetaDb::exec(std::string_view sql) {
  std::lock_guard lock(mutex_);
  std::string text(sql);
  char* msg = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    std::string m = msg ? msg : sqlite3_errstr(rc);
    sqlite3_free(msg);
    return fail(rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? ErrorKind::corrupt : ErrorKind::io,
                "sqlite exec '" + text.substr(0, 80) + "' " + path_ + ": " + m);
  }
  return {};
}

Result<Transaction> MetaDb::transaction(bool write) {
  std::unique_lock lock(mutex_);
  TRY(exec(write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED"));
  return Transaction(this, std::move(lock));
}

Result<std::optional<std::string>> MetaDb::query_text(std::string_view sql, std::string_view arg) {
  auto stmt = TRY(prepare(sql));
  if (!arg.empty()) stmt.bind(1, arg);
  bool row = TRY(stmt.step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(stmt.column_text(0));
}

Result<std::set<std::string>> MetaDb::applied_migrations() {
  auto st = TRY(prepare("SELECT id FROM schema_migrations"));
  std::set<std::string> ids;
  while (TRY(st.step())) ids.insert(st.column_text(0));
  return ids;
}

// A database that holds a migration this binary does not know was written by
// a newer gantry: its tables may mean something this binary cannot honour.
Status MetaDb::refuse_unknown_migrations(const MigrationList& list, const std::set<std::string>& applied) {
  std::set<std::string> known;
  for (std::size_t i = 0; i < list.size; ++i) known.insert(list.items[i].id);
  std::string unknown;
  for (const auto& id : applied)
    if (!known.count(id)) unknown += (unknown.empty() ? "" : ", ") + id;
  if (unknown.empty()) return {};
  return fail(ErrorKind::conflict, "meta.db " + path_ + " has a newer schema than this gantry knows (unknown " +
                                       "migrations: " + unknown + ", schema version " + std::to_string(list.size) +
                                       " here): use the newer gantry that wrote it");
}

Status MetaDb::migrate() {
  MigrationList list = schema_migrations();
  // Fast path: everything applied (one query at startup).
  TRY(exec("CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"));
  auto count = TRY(query_text("SELECT count(*) FROM schema_migrations"));
  if (count && std::stoul(*count) == list.size) return {};

  auto tx = TRY(transaction(true));
  const auto applied = TRY(applied_migrations());
  TRY(refuse_unknown_migrations(list, applied));
  for (std::size_t i = 0; i < list.size; ++i) {
    const Migration& m = list.items[i];
    if (applied.count(m.id)) continue;
    TRY_CTX(exec(m.sql), std::string("meta.db migration ") + m.id);
    auto ins = TRY(prepare("INSERT INTO schema_migrations (id, applied_at) VALUES (?1, strftime('%s','now'))"));
    ins.bind(1, m.id);
    TRY(ins.run());
  }
  TRY(exec("PRAGMA user_version = " + std::to_string(list.size)));
  return tx.commit();
}

}  // namespace gantry::cache
