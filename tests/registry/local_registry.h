// Test harness: a real docker-registry (Debian's reference distribution
// server) on 127.0.0.1 with a free port, anonymous, with htpasswd basic
// auth, and/or with TLS from a certificate made for the test. Stopped and
// removed by the destructor.
#pragma once

#include <sys/types.h>

#include <string>

#include "tests/support/test_support.h"

namespace gantry::testing {

struct LocalRegistryOptions {
  bool tls = false;
  std::string user;      // non-empty: htpasswd basic auth with this user...
  std::string password;  // ...and password
  // Non-empty: bearer-token auth with tokens from this realm, signed by the
  // key of `token_cert` (see token_server.h).
  std::string token_realm;
  std::string token_service;
  std::string token_issuer;
  std::string token_cert;
};

class LocalRegistry {
 public:
  explicit LocalRegistry(LocalRegistryOptions options = {});
  ~LocalRegistry();
  LocalRegistry(const LocalRegistry&) = delete;
  LocalRegistry& operator=(const LocalRegistry&) = delete;

  // Empty when the registry came up; else why not (tests ASSERT on it).
  const std::string& error() const { return error_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  std::string ca_file() const { return dir_ / "cert.pem"; }
  std::string data_dir() const { return dir_ / "data"; }
  std::string log() const;

 private:
  ScratchDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string error_;
};

// A free TCP port on 127.0.0.1 (bound, then released).
int free_port();
// True once something accepts TCP connections on 127.0.0.1:port.
bool wait_for_port(int port, int timeout_ms);

}  // namespace gantry::testing
