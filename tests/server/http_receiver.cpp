#include "tests/server/http_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace gantry::testing {

namespace {

int listen_loopback(int backlog, int& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, backlog) != 0)
    throw std::runtime_error(std::string("bind/listen: ") + std::strerror(errno));
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

}  // namespace

HttpReceiver::HttpReceiver(std::function<int(const ReceivedRequest&, int)> respond) : respond_(std::move(respond)) {
  listen_fd_ = listen_loopback(64, port_);
  thread_ = std::thread([this] { serve(); });
}

HttpReceiver::~HttpReceiver() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
}

std::vector<ReceivedRequest> HttpReceiver::requests() {
  std::lock_guard lock(mutex_);
  return requests_;
}

bool HttpReceiver::wait_for(const std::function<bool(const std::vector<ReceivedRequest>&)>& pred,
                            std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (pred(requests_)) return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void HttpReceiver::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    handle(fd);
    ::close(fd);
  }
}

// One request per connection (the response says Connection: close).
void HttpReceiver::handle(int fd) {
  std::string data;
  char buf[8192];
  std::size_t header_end = std::string::npos;
  std::size_t content_length = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;
    data.append(buf, static_cast<std::size_t>(n));
    if (header_end == std::string::npos && (header_end = data.find("\r\n\r\n")) != std::string::npos) {
      std::string head = data.substr(0, header_end);
      for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (auto cl = head.find("content-length:"); cl != std::string::npos)
        content_length = std::stoul(head.substr(cl + 15));
    }
    if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) break;
  }
  if (header_end == std::string::npos) return;
  ReceivedRequest r;
  r.at = std::chrono::steady_clock::now();
  std::size_t line_end = data.find("\r\n");
  const std::string request_line = data.substr(0, line_end);
  r.method = request_line.substr(0, request_line.find(' '));
  r.target = request_line.substr(r.method.size() + 1, request_line.rfind(' ') - r.method.size() - 1);
  std::size_t pos = line_end + 2;
  while (pos < header_end) {
    std::size_t end = data.find("\r\n", pos);
    std::string line = data.substr(pos, end - pos);
    pos = end + 2;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers[name] = value;
  }
  r.body = data.substr(header_end + 4, content_length);
  int index = 0;
  {
    std::lock_guard lock(mutex_);
    index = static_cast<int>(requests_.size());
    requests_.push_back(r);
  }
  const int status = respond_ ? respond_(r, index) : 200;
  const std::string body = "{}";
  const std::string response = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) +
                               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                               "\r\nConnection: close\r\n\r\n" + body;
  (void)!::write(fd, response.data(), response.size());
}

std::string refusing_url() {
  int port = 0;
  int fd = listen_loopback(1, port);
  ::close(fd);  // nothing listens there any more
  return "http://127.0.0.1:" + std::to_string(port);
}

BlackHole::BlackHole() { fd_ = listen_loopback(1024, port_); }
BlackHole::~BlackHole() { ::close(fd_); }

}  // namespace gantry::testing
