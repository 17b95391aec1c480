// NetworkNamespace: made and entered from short-lived threads, so the
// calling thread's namespace never changes (setns and unshare of
// CLONE_NEWNET act on the calling thread only).
#include "executor/netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <thread>

namespace gantry::executor {

namespace {

// Runs fn in a new thread and returns its result (the thread's namespace
// changes die with it).
template <typename Fn>
auto in_thread(Fn fn) -> decltype(fn()) {
  std::optional<decltype(fn())> out;
  std::thread t([&] { out.emplace(fn()); });
  t.join();
  return std::move(*out);
}

// Brings up `lo` in the calling thread's network namespace: 0 or an errno.
int bring_loopback_up() {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return errno;
  ifreq req{};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &req) != 0) return errno;
  req.ifr_flags |= IFF_UP | IFF_RUNNING;
  return ::ioctl(sock.get(), SIOCSIFFLAGS, &req) == 0 ? 0 : errno;
}

}  // namespace

Result<NetworkNamespace> NetworkNamespace::create() {
  return in_thread([]() -> Result<NetworkNamespace> {
    if (::unshare(CLONE_NEWNET) != 0) return fail_sys("unshare", "CLONE_NEWNET");
    if (int e = bring_loopback_up()) return fail_sys("bringing up", "lo", e);
    UniqueFd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_sys("open", "/proc/thread-self/ns/net");
    return NetworkNamespace(std::move(fd));
  });
}

Result<UniqueFd> NetworkNamespace::connect_tcp(std::uint16_t port, std::chrono::milliseconds timeout) const {
  std::string what = "127.0.0.1:" + std::to_string(port);
  UniqueFd sock = TRY(in_thread([&]() -> Result<UniqueFd> {
    if (::setns(fd_.get(), CLONE_NEWNET) != 0) return fail_sys("setns", "the stage's network namespace");
    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s) return fail_sys("socket", what);
    return s;
  }));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) return fail_sys("connect", what);
    pollfd p{sock.get(), POLLOUT, 0};
    int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n == 0) return fail_sys("connect", what, ETIMEDOUT);
    if (n < 0) return fail_sys("poll", what);
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return fail_sys("getsockopt", what);
    if (err != 0) return fail_sys("connect", what, err);
  }
  int flags = ::fcntl(sock.get(), F_GETFL);
  ::fcntl(sock.get(), F_SETFL, flags & ~O_NONBLOCK);
  return sock;
}

}  // namespace gantry::executor
