// A real PostgreSQL server for tests (issue 17): `initdb` into a temp dir and
// `pg_ctl start` listening only on a unix socket in that dir (no TCP port, no
// system service), password authentication (scram-sha-256) for the user
// "gantry". As root the cluster is owned by and run as the `postgres` user
// (initdb refuses root), through runuser. Stopped (immediate) and removed by
// the destructor.
//
// The binaries come from Debian's postgresql package
// (/usr/lib/postgresql/<version>/bin, newest version first); without them
// tests skip with the reason (GANTRY_REQUIRE_POSTGRES). CI installs them.
#pragma once

#include <string>

#include "tests/support/test_support.h"

namespace gantry::testing {

// The newest /usr/lib/postgresql/*/bin holding initdb, pg_ctl and psql; ""
// when there is none.
std::string postgres_bin_dir();

class PgServer {
 public:
  PgServer();  // initdb + start; error() says why when it failed
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // Non-empty when the server does not run: the binaries are missing
  // (skip_reason) or starting it failed (error).
  const std::string& skip_reason() const { return skip_reason_; }
  const std::string& error() const { return error_; }
  bool running() const { return running_; }

  // postgresql://gantry:<password>@/<database>?host=<socket dir>
  std::string url(const std::string& database) const;
  std::string url_with_password(const std::string& database, const std::string& password) const;
  const std::string& password() const { return password_; }
  const std::string& socket_dir() const { return dir_.path(); }

  // Creates a database (name: letters, digits, '_'); returns its url().
  std::string create_database(const std::string& name);
  // Runs SQL with psql as "gantry" in `database` (-At: bare rows).
  CommandResult psql(const std::string& database, const std::string& sql) const;

  // Stops the server (immediate: as a crash would) and starts it again.
  void stop();
  void start();

 private:
  CommandResult as_owner(const std::vector<std::string>& argv) const;
  ScratchDir dir_;
  std::string bin_;
  std::string password_;
  std::string skip_reason_;
  std::string error_;
  bool running_ = false;
};

// One server per test process, started on first use.
PgServer& shared_pg_server();

// Skips the test when PostgreSQL's binaries are missing; fails it when they
// are there but the server did not start.
#define GANTRY_REQUIRE_POSTGRES(server)                                            \
  do {                                                                            \
    if (!(server).skip_reason().empty()) GTEST_SKIP() << (server).skip_reason();  \
    ASSERT_TRUE((server).running()) << "PostgreSQL did not start: " << (server).error(); \
  } while (0)

}  // namespace gantry::testing
