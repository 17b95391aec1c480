// One connection to PostgreSQL through libpq, owned (PGconn* and every
// PGresult* sit in unique_ptrs with their deleters). Queries are always
// parameterized (PQexecParams): user data never becomes SQL text.
//
// Failures:
// - connecting: an error naming the URL with its password masked
//   (mask_url) and libpq's reason ("password authentication failed",
//   "Connection refused", "No such file or directory" for a socket);
// - a dropped connection (server restarted, backend terminated, network
//   cut) is reconnected once: a statement outside a transaction is sent
//   again; a transaction (transaction()) is run again from its start, so
//   nothing half-done is ever committed. A connection lost while COMMIT was
//   on its way is an error that says the outcome is unknown: it is never
//   retried (it may have committed).
//
// Threads: one statement or one transaction at a time. Several threads may
// share a connection (an agent's jobs, a run's parallel stages); each call
// holds the connection's lock, a transaction for its whole length.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/error.h"

namespace gantry::pgstore {

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

// "postgresql://user:***@host/db?password=***": the URL as errors show it.
std::string mask_url(const std::string& url);

// True for a URL gantry hands to PostgreSQL: postgresql:// or postgres://.
bool is_postgres_url(const std::string& url);

// One query parameter, sent as text (PostgreSQL infers its type); nullopt is NULL.
class Param {
 public:
  Param(std::string s) : value_(std::move(s)) {}
  Param(const char* s) : value_(std::string(s)) {}
  Param(std::string_view s) : value_(std::string(s)) {}
  Param(std::int64_t n) : value_(std::to_string(n)) {}
  Param(int n) : value_(std::to_string(n)) {}
  Param(bool b) : value_(b ? "true" : "false") {}
  Param(std::nullopt_t) {}
  const std::optional<std::string>& value() const { return value_; }

 private:
  std::optional<std::string> value_;
};

// The rows of a result, read as text.
class Rows {
 public:
  explicit Rows(PgResultPtr result) : result_(std::move(result)) {}
  int size() const { return PQntuples(result_.get()); }
  bool empty() const { return size() == 0; }
  bool is_null(int row, int col) const { return PQgetisnull(result_.get(), row, col) != 0; }
  std::string text(int row, int col) const { return PQgetvalue(result_.get(), row, col); }
  std::int64_t int64(int row, int col) const;
  bool boolean(int row, int col) const { return text(row, col) == "t"; }
  // Rows an INSERT/UPDATE/DELETE touched.
  std::int64_t affected() const;

 private:
  PgResultPtr result_;
};

class PgConn {
 public:
  // Connects (connect_timeout 10 s unless the URL sets one); invalid_input
  // for a URL that is not postgresql://, io with libpq's reason otherwise.
  static Result<std::unique_ptr<PgConn>> connect(const std::string& url);

  // One statement, atomic on its own; reconnects once when the connection
  // had dropped (outside a transaction only).
  Result<Rows> exec(const std::string& sql, const std::vector<Param>& params = {});
  // Several statements without parameters (migrations only: never user data).
  Status exec_script(const std::string& sql);

  // Runs fn() between BEGIN and COMMIT (ROLLBACK when it fails); fn returns
  // Status or Result<T>. Run again once on a new connection when the
  // connection dropped before COMMIT.
  template <typename F>
  auto transaction(F&& fn) -> decltype(fn());

  const std::string& masked_url() const { return masked_; }
  // The server process of this connection (pg_terminate_backend in tests).
  int backend_pid() const { return PQbackendPID(conn_.get()); }

 private:
  PgConn(std::string url, PgConnPtr conn) : url_(std::move(url)), masked_(mask_url(url_)), conn_(std::move(conn)) {}
  static Result<PgConnPtr> open(const std::string& url);
  Result<Rows> exec_once(const std::string& sql, const std::vector<Param>& params);
  // The last failure was the connection's, not the statement's.
  bool lost() const { return connection_failed_ || PQstatus(conn_.get()) == CONNECTION_BAD; }
  Status reconnect();

  std::string url_;
  std::string masked_;
  PgConnPtr conn_;
  bool in_transaction_ = false;
  bool connection_failed_ = false;
  // Held by exec, exec_script and a whole transaction (recursive: a
  // transaction's statements take it again).
  std::recursive_mutex mutex_;
};

template <typename F>
auto PgConn::transaction(F&& fn) -> decltype(fn()) {
  std::lock_guard lock(mutex_);
  if (in_transaction_) return fn();  // nested: part of the enclosing transaction
  for (int attempt = 0;; ++attempt) {
    const bool may_retry = attempt == 0;
    auto begun = exec_once("BEGIN", {});
    if (!begun) {
      if (may_retry && lost()) {
        TRY(reconnect());
        continue;
      }
      return std::unexpected(std::move(begun).error());
    }
    in_transaction_ = true;
    auto out = fn();
    in_transaction_ = false;
    if (!out) {
      const bool dropped = lost();
      if (!dropped) (void)exec_once("ROLLBACK", {});
      if (may_retry && dropped) {
        TRY(reconnect());
        continue;
      }
      return out;
    }
    auto committed = exec_once("COMMIT", {});
    if (!committed) {
      if (lost())
        return std::unexpected(Error(ErrorKind::io, "PostgreSQL " + masked_ +
                                                        ": the connection was lost while committing, the outcome "
                                                        "is unknown: " + committed.error().message()));
      return std::unexpected(std::move(committed).error());
    }
    return out;
  }
}

}  // namespace gantry::pgstore
