#include "tests/registry/tamper_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace gantry::testing {
namespace {

bool write_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

}  // namespace

TamperProxy::TamperProxy(int upstream_port, Mode mode, std::string match)
    : upstream_port_(upstream_port), mode_(mode), match_(std::move(match)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof addr;
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listen_fd_, 64);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  if (::pipe2(stop_pipe_, O_CLOEXEC) != 0) stop_pipe_[0] = stop_pipe_[1] = -1;
  thread_ = std::thread([this] { serve(); });
}

TamperProxy::~TamperProxy() {
  if (stop_pipe_[1] >= 0) (void)!::write(stop_pipe_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  for (int fd : {listen_fd_, stop_pipe_[0], stop_pipe_[1]})
    if (fd >= 0) ::close(fd);
}

void TamperProxy::serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents) return;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    handle(client);
    ::close(client);
  }
}

void TamperProxy::handle(int client) {
  // The request head (registry pulls send no request bodies).
  std::string request;
  char buf[65536];
  while (request.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(client, buf, sizeof buf, 0);
    if (n <= 0) return;
    request.append(buf, static_cast<std::size_t>(n));
  }
  std::size_t head_end = request.find("\r\n\r\n");
  std::string head = request.substr(0, head_end);
  // Drop any Connection header, ask for close: one request per connection.
  std::string rewritten;
  std::size_t pos = 0;
  while (pos < head.size()) {
    std::size_t eol = head.find("\r\n", pos);
    std::string line = head.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    if (strncasecmp(line.c_str(), "connection:", 11) != 0) rewritten += line + "\r\n";
    if (eol == std::string::npos) break;
    pos = eol + 2;
  }
  rewritten += "Connection: close\r\n\r\n" + request.substr(head_end + 4);
  std::string request_line = head.substr(0, head.find("\r\n"));

  int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = loopback(upstream_port_);
  if (::connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || !write_all(up, rewritten)) {
    ::close(up);
    return;
  }
  std::string response;
  while (true) {
    ssize_t n = ::recv(up, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, static_cast<std::size_t>(n));
  }
  ::close(up);

  std::size_t body_start = response.find("\r\n\r\n");
  bool target = request_line.starts_with("GET ") && request_line.find(match_) != std::string::npos &&
                response.starts_with("HTTP/1.1 200") && body_start != std::string::npos;
  if (target && response.size() > body_start + 4) {
    std::size_t body_len = response.size() - body_start - 4;
    if (mode_ == Mode::flip) {
      response[body_start + 4 + body_len / 2] ^= 0x5a;
    } else {
      response.resize(body_start + 4 + body_len / 2);
    }
    ++tampered_;
  }
  write_all(client, response);
}

}  // namespace gantry::testing
