#include "registry/reference.h"

#include <regex>

namespace gantry::registry {
namespace {

// From github.com/distribution/reference (regexp.go).
const std::regex& component_re() {
  static const std::regex re("[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*");
  return re;
}
const std::regex& tag_re() {
  static const std::regex re("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
  return re;
}
const std::regex& host_re() {
  // domain components or an IPv6 literal, then an optional port
  static const std::regex re(
      "(?:(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*"
      "|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]+)?");
  return re;
}

bool looks_like_host(const std::string& first) {
  return first.find_first_of(".:") != std::string::npos || first == "localhost" || first.starts_with('[');
}

}  // namespace

Result<RegistryRef> RegistryRef::parse(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return fail(ErrorKind::invalid_input, "invalid image reference '" + text + "': " + why);
  };
  if (text.empty()) return bad("empty");
  RegistryRef ref;
  std::string rest = text;
  if (auto at = rest.find('@'); at != std::string::npos) {
    auto d = Digest::parse(rest.substr(at + 1));
    if (!d) return bad(d.error().message());
    ref.digest = *d;
    rest.resize(at);
  }
  auto slash = rest.rfind('/');
  if (auto colon = rest.rfind(':'); colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    ref.tag = rest.substr(colon + 1);
    rest.resize(colon);
    if (!std::regex_match(ref.tag, tag_re())) return bad("bad tag '" + ref.tag + "'");
  }
  auto first_slash = rest.find('/');
  if (first_slash != std::string::npos && looks_like_host(rest.substr(0, first_slash))) {
    ref.host = rest.substr(0, first_slash);
    ref.repository = rest.substr(first_slash + 1);
    if (!std::regex_match(ref.host, host_re())) return bad("bad registry host '" + ref.host + "'");
  } else {
    ref.host = kDockerHubHost;
    ref.repository = rest;
  }
  if (ref.host == "index.docker.io" || ref.host == kDockerHubApiHost) ref.host = kDockerHubHost;
  if (ref.host == kDockerHubHost && ref.repository.find('/') == std::string::npos)
    ref.repository = "library/" + ref.repository;
  if (ref.repository.empty()) return bad("no repository");
  if (ref.repository.size() > 255) return bad("repository name longer than 255 characters");
  std::size_t start = 0;
  while (true) {
    auto end = ref.repository.find('/', start);
    std::string comp = ref.repository.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!std::regex_match(comp, component_re()))
      return bad("bad repository component '" + comp + "' (lowercase letters, digits and . _ - only)");
    if (end == std::string::npos) break;
    start = end + 1;
  }
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
  if (slash == std::string::npos) return false;
  std::string first = text.substr(0, slash);
  return first.find_first_of(".:") != std::string::npos || first == "localhost" || first.starts_with('[');
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
