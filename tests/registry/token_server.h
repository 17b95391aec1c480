// A bearer-token server for tests, as docker-registry's `auth: token`
// expects one: GET /token?service=S&scope=repository:R:A,... answers
// {"token": JWT} signed RS256 with a key made by the test, the certificate in
// the JWT's x5c header (the registry trusts it through rootcertbundle). With
// a user set, the request must carry that user's Basic credentials (401 else).
// One request per connection, served on a loopback thread, over plain HTTP or
// (tls) HTTPS with the same certificate (valid for 127.0.0.1: pass
// cert_file() as --ca-file). It counts the requests that carried an
// Authorization header, whatever its value.
#pragma once

#include <atomic>
#include <string>
#include <thread>

namespace gantry::testing {

class TokenServer {
 public:
  // Makes the RSA key and certificate in `dir`.
  TokenServer(const std::string& dir, std::string user, std::string password, bool tls = false);
  ~TokenServer();
  TokenServer(const TokenServer&) = delete;
  TokenServer& operator=(const TokenServer&) = delete;

  const std::string& error() const { return error_; }
  std::string realm() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + "/token";
  }
  std::string cert_file() const { return dir_ + "/token-cert.pem"; }
  static constexpr const char* kService = "gantry-test-registry";
  static constexpr const char* kIssuer = "gantry-test-issuer";
  int tokens_issued() const { return issued_; }
  int refused() const { return refused_; }
  int requests() const { return requests_; }
  int requests_with_credentials() const { return with_credentials_; }

 private:
  void serve();
  std::string answer(const std::string& request_head);
  std::string read_head(int client, void* ssl);
  std::string dir_, user_, password_, error_;
  std::string cert_der_b64_;
  void* key_ = nullptr;  // EVP_PKEY*
  bool tls_ = false;
  void* ssl_ctx_ = nullptr;  // SSL_CTX*, when tls
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<int> issued_{0}, refused_{0}, requests_{0}, with_credentials_{0};
  std::thread thread_;
};

}  // namespace gantry::testing
