// A network namespace of its own (loopback only, up) that several
// containers join (ContainerSpec::netns_fd): a stage and its services share
// 127.0.0.1 and nothing else. It lives while this object (its fd) or any
// process in it does: a runner killed with SIGKILL leaves nothing (its fd
// closes, its containers die with it).
#pragma once

#include <chrono>
#include <cstdint>

#include "common/error.h"
#include "common/unique_fd.h"

namespace gantry::executor {

class NetworkNamespace {
 public:
  // unshare(CLONE_NEWNET) in a short-lived thread (the caller's own
  // namespace never changes), loopback brought up there.
  static Result<NetworkNamespace> create();

  int fd() const { return fd_.get(); }

  // A TCP connection to 127.0.0.1:port inside the namespace (the socket is
  // made there, then usable from any thread). ECONNREFUSED while nothing
  // listens; ETIMEDOUT after `timeout`.
  Result<UniqueFd> connect_tcp(std::uint16_t port, std::chrono::milliseconds timeout) const;

 private:
  explicit NetworkNamespace(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace gantry::executor
