#include "registry/reference.h"

#include "common/image_ref.h"

namespace gantry::registry {
Result<RegistryRef> RegistryRef::parse(const std::string& text) {
  // common/image_ref.h: the one grammar; here a reference without a host is
  // Docker Hub's, and a one-component Docker Hub repository is "library/...".
  auto parts = TRY(parse_image_ref(text));
  RegistryRef ref;
  ref.host = parts.host.empty() ? kDockerHubHost : parts.host;
  ref.repository = parts.path;
  ref.tag = parts.tag;
  ref.digest = parts.digest;
  if (ref.host == "index.docker.io" || ref.host == kDockerHubApiHost) ref.host = kDockerHubHost;
  if (ref.host == kDockerHubHost && ref.repository.find('/') == std::string::npos)
    ref.repository = "library/" + ref.repository;
  if (ref.repository.size() > 255)
    return fail(ErrorKind::invalid_input, "invalid image reference '" + text + "': repository name longer than 255 characters");
  if (ref.tag.empty() && !ref.digest) ref.tag = "latest";
  return ref;
}

std::string RegistryRef::str() const {
  std::string s = name();
  if (!tag.empty()) s += ":" + tag;
  if (digest) s += "@" + digest->str();
  return s;
}

RegistryRef RegistryRef::with_digest(const Digest& d) const {
  RegistryRef r = *this;
  r.tag.clear();
  r.digest = d;
  return r;
}

bool names_registry_host(const std::string& text) {
  auto slash = text.find('/');
  return slash != std::string::npos && looks_like_registry_host(std::string_view(text).substr(0, slash));
}

std::string host_without_port(const std::string& host) {
  if (host.starts_with('[')) {
    auto close = host.find(']');
    return close == std::string::npos ? host : host.substr(1, close - 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string::npos ? host : host.substr(0, colon);
}

bool is_loopback_host(const std::string& host) {
  std::string h = host_without_port(host);
  return h == "localhost" || h == "::1" || h.starts_with("127.");
}

}  // namespace gantry::registry
