// Registry references: [HOST[:PORT]/]REPO[:TAG][@sha256:HEX], parsed as the
// distribution project's reference grammar does. A first component with a
// '.' or ':' or equal to "localhost" is a registry host; otherwise the host
// is docker.io and a one-component repository gets the "library/" prefix.
// A reference with neither tag nor digest means ":latest".
#pragma once

#include <optional>
#include <string>

#include "common/digest.h"
#include "common/error.h"

namespace gantry::registry {

inline constexpr const char* kDockerHubHost = "docker.io";
inline constexpr const char* kDockerHubApiHost = "registry-1.docker.io";

struct RegistryRef {
  std::string host;               // "127.0.0.1:5000", "docker.io"
  std::string repository;         // "team/base", "library/busybox"
  std::string tag;                // empty when only a digest was given
  std::optional<Digest> digest;   // from "@sha256:..."

  // invalid_input (naming the text) on a malformed host, repository, tag or digest.
  static Result<RegistryRef> parse(const std::string& text);

  // "HOST/REPO:TAG", "HOST/REPO@sha256:..", "HOST/REPO:TAG@sha256:..": the
  // canonical text, also the name a pulled image is stored under.
  std::string str() const;
  // "HOST/REPO" (the store's image name for this reference).
  std::string name() const { return host + "/" + repository; }
  // What the manifest endpoint takes: the digest when given, else the tag.
  std::string manifest_reference() const { return digest ? digest->str() : tag; }
  // The host API requests go to (docker.io -> registry-1.docker.io).
  std::string api_host() const { return host == kDockerHubHost ? kDockerHubApiHost : host; }
  // The same repository at another tag/digest.
  RegistryRef with_digest(const Digest& d) const;
};

// True for hosts that may be spoken to over plain HTTP without an explicit
// --insecure-registry: localhost, 127.0.0.0/8 and ::1 (with any port).
bool is_loopback_host(const std::string& host);

// True when `text` names a registry explicitly: its first path component is
// a host ("127.0.0.1:5000/team/base:1", "registry.example.com/x", "localhost/y").
// "busybox" or "app:1" are local names (false), though they would parse as Docker Hub.
bool names_registry_host(const std::string& text);

// "127.0.0.1:5000" -> "127.0.0.1"; "[::1]:5000" -> "::1".
std::string host_without_port(const std::string& host);

}  // namespace gantry::registry
