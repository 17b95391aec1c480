// Lazy binding of libpq, linked into the gantry executable only (see
// runner/CMakeLists.txt and lazy_libcurl.cpp, which does the same for
// libcurl). Why: libpq.so.5 brings ~20 shared libraries (ldap, sasl, gnutls,
// p11-kit, krb5, ...) that the dynamic loader mapped and relocated at every
// start of gantry — `gantry --version` went from ~3 ms to 6-8 ms when the
// PostgreSQL backend (pgstore/) was linked in, and every `gantry exec` paid it
// — though only `--db` commands use it. These definitions win over
// libpq.so's at link time, so with -Wl,--as-needed libpq is no DT_NEEDED of
// gantry; the first call dlopen()s the very same libpq.so.5 and forwards to
// it. A libpq function not listed here still links directly against libpq.so
// (which then is loaded at startup again): correct, only slower.
#include <libpq-fe.h>

#include "runner/lazy_library.h"

namespace {

void* libpq() {
  static void* handle = gantry::lazy::open_library("libpq.so.5", "libpq5");
  return handle;
}

template <typename F>
F real(const char* name) {
  return gantry::lazy::function<F>(libpq(), "libpq.so.5", name);
}

#define GANTRY_REAL(name) static const auto f = real<decltype(&name)>(#name)

}  // namespace

extern "C" {

PGconn* PQconnectdbParams(const char* const* keywords, const char* const* values, int expand_dbname) {
  GANTRY_REAL(PQconnectdbParams);
  return f(keywords, values, expand_dbname);
}

void PQfinish(PGconn* conn) {
  GANTRY_REAL(PQfinish);
  f(conn);
}

ConnStatusType PQstatus(const PGconn* conn) {
  GANTRY_REAL(PQstatus);
  return f(conn);
}

char* PQerrorMessage(const PGconn* conn) {
  GANTRY_REAL(PQerrorMessage);
  return f(conn);
}

int PQbackendPID(const PGconn* conn) {
  GANTRY_REAL(PQbackendPID);
  return f(conn);
}

PQnoticeProcessor PQsetNoticeProcessor(PGconn* conn, PQnoticeProcessor proc, void* arg) {
  GANTRY_REAL(PQsetNoticeProcessor);
  return f(conn, proc, arg);
}

PGresult* PQexec(PGconn* conn, const char* query) {
  GANTRY_REAL(PQexec);
  return f(conn, query);
}

PGresult* PQexecParams(PGconn* conn, const char* command, int nParams, const Oid* paramTypes,
                       const char* const* paramValues, const int* paramLengths, const int* paramFormats,
                       int resultFormat) {
  GANTRY_REAL(PQexecParams);
  return f(conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat);
}

ExecStatusType PQresultStatus(const PGresult* res) {
  GANTRY_REAL(PQresultStatus);
  return f(res);
}

char* PQresultErrorMessage(const PGresult* res) {
  GANTRY_REAL(PQresultErrorMessage);
  return f(res);
}

char* PQresultErrorField(const PGresult* res, int fieldcode) {
  GANTRY_REAL(PQresultErrorField);
  return f(res, fieldcode);
}

int PQntuples(const PGresult* res) {
  GANTRY_REAL(PQntuples);
  return f(res);
}

char* PQgetvalue(const PGresult* res, int tup_num, int field_num) {
  GANTRY_REAL(PQgetvalue);
  return f(res, tup_num, field_num);
}

int PQgetisnull(const PGresult* res, int tup_num, int field_num) {
  GANTRY_REAL(PQgetisnull);
  return f(res, tup_num, field_num);
}

char* PQcmdTuples(PGresult* res) {
  GANTRY_REAL(PQcmdTuples);
  return f(res);
}

void PQclear(PGresult* res) {
  GANTRY_REAL(PQclear);
  f(res);
}

}  // extern "C"
