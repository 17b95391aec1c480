#include "tests/registry/local_registry.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace gantry::testing {

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

bool wait_for_port(int port, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

LocalRegistry::LocalRegistry(LocalRegistryOptions options) {
  if (options.tls) {
    auto r = run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                          "-nodes", "-keyout", dir_ / "key.pem", "-out", dir_ / "cert.pem", "-days", "2", "-subj",
                          "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
    if (r.exit_code != 0) {
      error_ = "openssl req failed: " + r.err;
      return;
    }
  }
  if (!options.user.empty()) {
    auto r = run_command({"htpasswd", "-Bbn", options.user, options.password});
    if (r.exit_code != 0) {
      error_ = "htpasswd failed: " + r.err;
      return;
    }
    write_file(dir_ / "htpasswd", r.out);
  }
  // Tests run in parallel: another process may take the port between
  // free_port() and the registry's bind. Then the registry exits; try again.
  for (int attempt = 0; attempt < 5; ++attempt) {
    error_.clear();
    port_ = free_port();
    std::ostringstream config;
    config << "version: 0.1\n"
           << "log:\n  level: error\n  accesslog:\n    disabled: true\n"
           << "storage:\n  filesystem:\n    rootdirectory: " << data_dir() << "\n  delete:\n    enabled: true\n"
           << "http:\n  addr: 127.0.0.1:" << port_ << "\n";
    if (options.tls)
      config << "  tls:\n    certificate: " << (dir_ / "cert.pem") << "\n    key: " << (dir_ / "key.pem") << "\n";
    if (!options.user.empty())
      config << "auth:\n  htpasswd:\n    realm: gantry-test\n    path: " << (dir_ / "htpasswd") << "\n";
    if (!options.token_realm.empty()) {
      config << "auth:\n  token:\n    realm: " << options.token_realm << "\n    service: " << options.token_service
             << "\n    issuer: " << options.token_issuer << "\n    rootcertbundle: " << options.token_cert << "\n";
    }
    write_file(dir_ / "config.yml", config.str());

    std::string log_path = dir_ / "registry.log";
    std::string config_path = dir_ / "config.yml";
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execl("/usr/bin/docker-registry", "docker-registry", "serve", config_path.c_str(), nullptr);
      ::_exit(127);
    }
    if (pid_ < 0) {
      error_ = "fork failed";
      return;
    }
    bool up = wait_for_port(port_, 20000);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    int status = 0;
    if (up && ::waitpid(pid_, &status, WNOHANG) == 0) return;  // listening, and it is ours
    if (!up) {
      error_ = "docker-registry did not listen on " + host() + ": " + log();
    } else {
      error_ = "docker-registry exited (port taken?): " + log();
      pid_ = -1;  // reaped
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
}

LocalRegistry::~LocalRegistry() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
}

std::string LocalRegistry::log() const {
  std::ifstream in(dir_ / "registry.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace gantry::testing
