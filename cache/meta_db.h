// meta.db: a thin RAII wrapper over one SQLite connection (WAL, busy_timeout).
//
// The schema lives in meta_schema.cpp as a list of named migrations; every
// module of cache/ adds its tables there (one block each) and reaches the
// connection through Store::db().  A connection may be shared by threads:
// a Transaction holds the connection's mutex for its lifetime, and exec()
// / Statement::step() take it briefly.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/error.h"

namespace gantry::cache {

class MetaDb;
struct MigrationList;

// A prepared statement. bind_* use 1-based indexes as SQLite does; column_*
// 0-based. step() returns true while a row is available, false when done.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
  Statement& bind_blob(int index, std::string_view bytes);
  Statement& bind_null(int index);

  Result<bool> step();
  // step() until done; for INSERT/UPDATE/DELETE.
  Status run();
  Status reset();  // ready to bind and step again

  std::int64_t column_int64(int col) const;
  std::string column_text(int col) const;
  bool column_is_null(int col) const;
  int column_count() const;

 private:
  friend class MetaDb;
  Statement(MetaDb* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  MetaDb* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE (or DEFERRED for read-only) ... COMMIT; rolls back when
// destroyed without commit(). Holds the connection mutex.
class Transaction {
 public:
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();
  Status commit();

 private:
  friend class MetaDb;
  Transaction(MetaDb* db, std::unique_lock<std::recursive_mutex> lock) : db_(db), lock_(std::move(lock)) {}
  MetaDb* db_ = nullptr;
  std::unique_lock<std::recursive_mutex> lock_;
  bool done_ = false;
};

class MetaDb {
 public:
  // Opens (creating) the database, sets WAL + busy_timeout and applies every
  // migration of meta_schema.cpp that is not applied yet.
  static Result<std::unique_ptr<MetaDb>> open(const std::string& path);
  ~MetaDb();
  MetaDb(const MetaDb&) = delete;
  MetaDb& operator=(const MetaDb&) = delete;

  Result<Statement> prepare(std::string_view sql);
  // Runs one or more statements without results.
  Status exec(std::string_view sql);
  // write=true: BEGIN IMMEDIATE (takes the write lock up front, so no
  // deadlock on upgrade); write=false: BEGIN DEFERRED.
  Result<Transaction> transaction(bool write = true);

  // Convenience: the first column of the first row as text, if any.
  Result<std::optional<std::string>> query_text(std::string_view sql, std::string_view arg = {});

  const std::string& path() const { return path_; }
  sqlite3* handle() { return db_; }
  std::recursive_mutex& mutex() { return mutex_; }

  // "sqlite <op> <path>: <message>"
  Error error(const std::string& op, int rc) const;

 private:
  MetaDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status migrate();
  Result<std::set<std::string>> applied_migrations();
  Status refuse_unknown_migrations(const MigrationList& list, const std::set<std::string>& applied);
  sqlite3* db_;
  std::string path_;
  std::recursive_mutex mutex_;
};

// ---- meta_schema.cpp ---------------------------------------------------

// One schema change, applied once per database in list order. `id` is a
// unique, never-reused name ("0001-tags"); `sql` may hold several statements.
struct Migration {
  const char* id;
  const char* sql;
};
// Every migration of meta.db, in the order they apply. The schema version
// (PRAGMA user_version) is how many there are; a database holding a
// migration id this list lacks was written by a newer gantry and is refused.
struct MigrationList {
  const Migration* items;
  std::size_t size;
};
MigrationList schema_migrations();

// A gc root: a query whose first column yields digests ("sha256:<hex>") that
// gc must keep, with everything they reference (a manifest keeps its config and
// layers, a layer blob keeps its unpacked dir). Each module adds one entry for
// each table that points at blobs.
struct GcRoot {
  const char* name;  // for messages: "tags", "step_cache", ...
  const char* sql;
};
struct GcRootList {
  const GcRoot* items;
  std::size_t size;
};
GcRootList gc_roots();

}  // namespace gantry::cache
