// PgServer (pg_server.h): initdb, pg_ctl and psql from Debian's postgresql.
#include "tests/support/pg_server.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

namespace gantry::testing {

namespace fs = std::filesystem;

std::string postgres_bin_dir() {
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const fs::path bin = entry.path() / "bin";
    if (::access((bin / "initdb").c_str(), X_OK) == 0 && ::access((bin / "pg_ctl").c_str(), X_OK) == 0 &&
        ::access((bin / "psql").c_str(), X_OK) == 0)
      dirs.push_back(bin);
  }
  if (dirs.empty()) return "";
  // Newest version first ("15" < "16" as numbers).
  std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) {
    return std::stoi(a.parent_path().filename().string()) > std::stoi(b.parent_path().filename().string());
  });
  return dirs.front().string();
}

CommandResult PgServer::as_owner(const std::vector<std::string>& argv) const {
  if (::geteuid() != 0) return run_command(argv);
  std::vector<std::string> wrapped = {"runuser", "-u", "postgres", "--"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return run_command(wrapped);
}

PgServer::PgServer() {
  bin_ = postgres_bin_dir();
  if (bin_.empty()) {
    skip_reason_ = "PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin/initdb: Debian package "
                   "postgresql; ci/setup installs it)";
    return;
  }
  std::random_device rd;
  password_ = "pw-" + std::to_string(rd()) + std::to_string(rd());
  write_file(dir_ / "pwfile", password_ + "\n", 0600);
  if (::geteuid() == 0) {
    struct passwd* pw = ::getpwnam("postgres");
    if (!pw) {
      error_ = "running as root needs the postgres user (initdb refuses root); it comes with Debian's postgresql";
      return;
    }
    for (const std::string& p : {dir_.path(), dir_ / "pwfile"})
      if (::chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        error_ = "chown " + p + " to postgres: " + std::strerror(errno);
        return;
      }
  }
  auto init = as_owner({bin_ + "/initdb", "-D", dir_ / "data", "-U", "gantry", "--pwfile=" + (dir_ / "pwfile"),
                        "--auth=scram-sha-256", "-E", "UTF8", "--no-sync", "--locale=C"});
  if (init.exit_code != 0) {
    error_ = "initdb exited " + std::to_string(init.exit_code) + ": " + init.err + init.out;
    return;
  }
  start();
}

void PgServer::start() {
  // Unix socket only, in the scratch dir. No fsync (a test database): a
  // commit survives the server's crash (stop()), not the machine's.
  const std::string options = "-c listen_addresses='' -c unix_socket_directories='" + dir_.path() +
                              "' -c fsync=off -c full_page_writes=off"
                              " -c max_connections=200";
  auto started = as_owner({bin_ + "/pg_ctl", "-D", dir_ / "data", "-l", dir_ / "server.log", "-w", "-t", "60",
                           "-o", options, "start"});
  if (started.exit_code != 0) {
    std::string log;
    try {
      log = read_file_or_die(dir_ / "server.log");
    } catch (...) {
    }
    error_ = "pg_ctl start exited " + std::to_string(started.exit_code) + ": " + started.err + started.out + log;
    running_ = false;
    return;
  }
  running_ = true;
}

void PgServer::stop() {
  if (!running_) return;
  as_owner({bin_ + "/pg_ctl", "-D", dir_ / "data", "-m", "immediate", "-w", "stop"});
  running_ = false;
}

PgServer::~PgServer() { stop(); }

std::string PgServer::url_with_password(const std::string& database, const std::string& password) const {
  return "postgresql://gantry:" + password + "@/" + database + "?host=" + dir_.path();
}

std::string PgServer::url(const std::string& database) const { return url_with_password(database, password_); }

CommandResult PgServer::psql(const std::string& database, const std::string& sql) const {
  return run_command({bin_ + "/psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", dir_.path(), "-U", "gantry", "-d",
                      database, "-c", sql},
                     {"PGPASSWORD=" + password_});
}

std::string PgServer::create_database(const std::string& name) {
  auto made = psql("postgres", "CREATE DATABASE " + name);
  if (made.exit_code != 0) throw std::runtime_error("CREATE DATABASE " + name + ": " + made.err);
  return url(name);
}

PgServer& shared_pg_server() {
  static PgServer server;
  return server;
}

}  // namespace gantry::testing
