// PgConn (pg_conn.h): libpq's connection, results and errors.
#include "pgstore/pg_conn.h"

#include <charconv>

namespace gantry::pgstore {

namespace {

// libpq's messages end with a newline and may span lines: one line for ours.
std::string one_line(const char* message) {
  std::string out = message ? message : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (char& c : out)
    if (c == '\n') c = ' ';
  return out.empty() ? std::string("no message from libpq") : out;
}

}  // namespace

bool is_postgres_url(const std::string& url) {
  return url.starts_with("postgresql://") || url.starts_with("postgres://");
}

std::string mask_url(const std::string& url) {
  std::string out = url;
  const auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    const std::size_t start = scheme + 3;
    const std::size_t end = out.find_first_of("/?", start);
    const std::size_t at = out.rfind('@', end == std::string::npos ? out.size() : end);
    if (at != std::string::npos && at >= start) {
      const std::size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=... as a query parameter of the URL or a key=value string.
  for (std::size_t pos = 0; (pos = out.find("password=", pos)) != std::string::npos;) {
    const std::size_t value = pos + 9;
    const std::size_t end = out.find_first_of("& ", value);
    out.replace(value, (end == std::string::npos ? out.size() : end) - value, "***");
    pos = value + 3;
  }
  return out;
}

std::int64_t Rows::int64(int row, int col) const {
  const char* v = PQgetvalue(result_.get(), row, col);
  std::int64_t n = 0;
  std::from_chars(v, v + std::char_traits<char>::length(v), n);
  return n;
}

std::int64_t Rows::affected() const {
  const char* v = PQcmdTuples(result_.get());
  std::int64_t n = 0;
  std::from_chars(v, v + std::char_traits<char>::length(v), n);
  return n;
}

Result<PgConnPtr> PgConn::open(const std::string& url) {
  // The URL's own settings win: ours come first, expand_dbname applies the URL over them.
  const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* values[] = {"10", "gantry", url.c_str(), nullptr};
  PgConnPtr conn(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (!conn) return fail(ErrorKind::internal, "connecting to PostgreSQL at " + mask_url(url) + ": out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK)
    return fail(ErrorKind::io,
                "connecting to PostgreSQL at " + mask_url(url) + ": " + one_line(PQerrorMessage(conn.get())));
  // Quiet: "relation already exists, skipping" and the like are not ours to print.
  PQsetNoticeProcessor(conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}

Result<std::unique_ptr<PgConn>> PgConn::connect(const std::string& url) {
  if (!is_postgres_url(url))
    return fail(ErrorKind::invalid_input, "database URL '" + mask_url(url) +
                                              "': expected postgresql://[user[:password]@][host][:port]/dbname");
  auto conn = TRY(open(url));
  return std::unique_ptr<PgConn>(new PgConn(url, std::move(conn)));
}

Status PgConn::reconnect() {
  conn_ = TRY_CTX(open(url_), "reconnecting after the connection dropped");
  connection_failed_ = false;
  return {};
}

Result<Rows> PgConn::exec_once(const std::string& sql, const std::vector<Param>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.value() ? p.value()->c_str() : nullptr);
  PgResultPtr result(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                                  values.data(), nullptr, nullptr, /*text results*/ 0));
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  connection_failed_ = false;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Rows(std::move(result));
  std::string message = one_line(result ? PQresultErrorMessage(result.get()) : PQerrorMessage(conn_.get()));
  const char* state = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
  // No SQLSTATE: libpq's own failure (the socket closed under it); class 08:
  // connection exception; 57P01-57P03: the server is shutting down or restarting.
  const std::string code = state ? state : "";
  connection_failed_ = code.empty() || code.starts_with("08") || code == "57P01" || code == "57P02" ||
                       code == "57P03";
  if (state) message += " (SQLSTATE " + std::string(state) + ")";
  // 23505 unique_violation: a row that is there already (a run id reused).
  const ErrorKind kind = state && std::string(state) == "23505" ? ErrorKind::conflict : ErrorKind::io;
  return fail(kind, "PostgreSQL " + masked_ + ": " + message);
}

Result<Rows> PgConn::exec(const std::string& sql, const std::vector<Param>& params) {
  std::lock_guard lock(mutex_);
  auto rows = exec_once(sql, params);
  if (!rows && !in_transaction_ && lost()) {
    TRY(reconnect());
    return exec_once(sql, params);
  }
  return rows;
}

Status PgConn::exec_script(const std::string& sql) {
  std::lock_guard lock(mutex_);
  PgResultPtr result(PQexec(conn_.get(), sql.c_str()));
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return {};
  return fail(ErrorKind::io, "PostgreSQL " + masked_ + ": " +
                                 one_line(result ? PQresultErrorMessage(result.get()) : PQerrorMessage(conn_.get())));
}

}  // namespace gantry::pgstore
