#include "tests/registry/token_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "registry/credentials.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

std::string b64url(std::string_view data) {
  std::string s = registry::base64_encode(data);
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string url_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

}  // namespace

TokenServer::TokenServer(const std::string& dir, std::string user, std::string password, bool tls)
    : dir_(dir), user_(std::move(user)), password_(std::move(password)), tls_(tls) {
  auto r = run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir_ + "/token-key.pem",
                        "-out", cert_file(), "-days", "2", "-subj", "/CN=gantry-test-token", "-addext",
                        "subjectAltName=IP:127.0.0.1"});
  if (r.exit_code != 0) {
    error_ = "openssl req: " + r.err;
    return;
  }
  FILE* kf = std::fopen((dir_ + "/token-key.pem").c_str(), "r");
  FILE* cf = std::fopen(cert_file().c_str(), "r");
  if (!kf || !cf) {
    error_ = "cannot open the token key or certificate";
    if (kf) std::fclose(kf);
    if (cf) std::fclose(cf);
    return;
  }
  key_ = PEM_read_PrivateKey(kf, nullptr, nullptr, nullptr);
  X509* cert = PEM_read_X509(cf, nullptr, nullptr, nullptr);
  std::fclose(kf);
  std::fclose(cf);
  if (!key_ || !cert) {
    error_ = "cannot parse the token key or certificate";
    if (cert) X509_free(cert);
    return;
  }
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  cert_der_b64_ = registry::base64_encode(std::string_view(reinterpret_cast<char*>(der), static_cast<std::size_t>(len)));
  OPENSSL_free(der);
  X509_free(cert);

  if (tls_) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    ssl_ctx_ = ctx;
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert_file().c_str()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, static_cast<EVP_PKEY*>(key_)) != 1) {
      error_ = "cannot set up TLS for the token server";
      return;
    }
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof addr;
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listen_fd_, 64);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &alen);
  port_ = ntohs(addr.sin_port);
  if (::pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    error_ = "pipe2 failed";
    return;
  }
  thread_ = std::thread([this] { serve(); });
}

TokenServer::~TokenServer() {
  if (stop_pipe_[1] >= 0) (void)!::write(stop_pipe_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  for (int fd : {listen_fd_, stop_pipe_[0], stop_pipe_[1]})
    if (fd >= 0) ::close(fd);
  if (key_) EVP_PKEY_free(static_cast<EVP_PKEY*>(key_));
  if (ssl_ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
}

std::string TokenServer::read_head(int client, void* ssl) {
  std::string head;
  char buf[8192];
  while (head.find("\r\n\r\n") == std::string::npos) {
    int n = ssl ? SSL_read(static_cast<SSL*>(ssl), buf, sizeof buf) : static_cast<int>(::recv(client, buf, sizeof buf, 0));
    if (n <= 0) break;
    head.append(buf, static_cast<std::size_t>(n));
  }
  return head;
}

void TokenServer::serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents) return;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    SSL* ssl = nullptr;
    if (tls_) {
      ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
      SSL_set_fd(ssl, client);
      if (SSL_accept(ssl) != 1) {
        SSL_free(ssl);
        ::close(client);
        continue;
      }
    }
    std::string head = read_head(client, ssl);
    ++requests_;
    std::string lower_head = head;
    for (char& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower_head.find("\r\nauthorization:") != std::string::npos) ++with_credentials_;
    std::string response = answer(head);
    if (ssl) {
      SSL_write(ssl, response.data(), static_cast<int>(response.size()));
      SSL_shutdown(ssl);
      SSL_free(ssl);
    } else {
      (void)!::send(client, response.data(), response.size(), MSG_NOSIGNAL);
    }
    ::close(client);
  }
}

std::string TokenServer::answer(const std::string& head) {
  auto reply = [](int status, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Unauthorized") +
           "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  std::string line = head.substr(0, head.find("\r\n"));
  auto sp1 = line.find(' ');
  auto sp2 = line.find(' ', sp1 + 1);
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string subject = "anonymous";
  if (!user_.empty()) {
    std::string want = "Authorization: Basic " + registry::base64_encode(user_ + ":" + password_) + "\r\n";
    if (head.find(want) == std::string::npos) {
      ++refused_;
      return reply(401, R"({"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]})");
    }
    subject = user_;
  }
  nlohmann::json access = nlohmann::json::array();
  auto q = target.find('?');
  std::string query = q == std::string::npos ? "" : target.substr(q + 1);
  std::size_t pos = 0;
  while (pos < query.size()) {
    auto amp = query.find('&', pos);
    std::string kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (kv.starts_with("scope=")) {
      std::string scope = url_decode(kv.substr(6));  // repository:NAME:ACTIONS
      auto c1 = scope.find(':');
      auto c2 = scope.rfind(':');
      nlohmann::json actions = nlohmann::json::array();
      std::string list = scope.substr(c2 + 1);
      for (std::size_t s = 0; s <= list.size();) {
        auto comma = list.find(',', s);
        actions.push_back(list.substr(s, comma == std::string::npos ? std::string::npos : comma - s));
        if (comma == std::string::npos) break;
        s = comma + 1;
      }
      access.push_back({{"type", scope.substr(0, c1)}, {"name", scope.substr(c1 + 1, c2 - c1 - 1)}, {"actions", actions}});
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  std::int64_t now = std::time(nullptr);
  nlohmann::json header = {{"typ", "JWT"}, {"alg", "RS256"}, {"x5c", {cert_der_b64_}}};
  nlohmann::json claims = {{"iss", kIssuer}, {"sub", subject}, {"aud", kService}, {"exp", now + 600},
                           {"nbf", now - 60}, {"iat", now}, {"jti", std::to_string(now) + "-" + std::to_string(issued_)},
                           {"access", access}};
  std::string signing_input = b64url(header.dump()) + "." + b64url(claims.dump());
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  std::size_t sig_len = 0;
  std::string sig;
  if (EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, static_cast<EVP_PKEY*>(key_)) == 1 &&
      EVP_DigestSign(md, nullptr, &sig_len, reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) == 1) {
    sig.resize(sig_len);
    EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                   reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
    sig.resize(sig_len);
  }
  EVP_MD_CTX_free(md);
  std::string token = signing_input + "." + b64url(sig);
  ++issued_;
  return reply(200, nlohmann::json{{"token", token}, {"access_token", token}, {"expires_in", 600}}.dump());
}

}  // namespace gantry::testing
