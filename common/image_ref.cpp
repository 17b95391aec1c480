#include "common/image_ref.h"

#include <regex>

namespace gantry {

namespace {

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
      "|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]{1,5})?");
  return re;
}

}  // namespace

bool looks_like_registry_host(std::string_view first) {
  return first.find_first_of(".:") != std::string_view::npos || first == "localhost" || first.starts_with('[');
}

bool is_valid_image_tag(std::string_view tag) {
  return std::regex_match(tag.begin(), tag.end(), tag_re());
}

Result<ImageRefParts> parse_image_ref(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return fail(ErrorKind::invalid_input, "invalid image reference '" + std::string(text) + "': " + why);
  };
  if (text.empty()) return bad("empty");
  ImageRefParts ref;
  std::string rest(text);
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
    if (!is_valid_image_tag(ref.tag))
      return bad("tag '" + ref.tag + "' must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'");
  }
  auto first_slash = rest.find('/');
  if (first_slash != std::string::npos && looks_like_registry_host(std::string_view(rest).substr(0, first_slash))) {
    ref.host = rest.substr(0, first_slash);
    rest.erase(0, first_slash + 1);
    if (!std::regex_match(ref.host, host_re())) return bad("bad registry host '" + ref.host + "'");
  }
  if (rest.empty()) return bad("no repository name");
  if (rest.size() > 255) return bad("name longer than 255 characters");
  std::size_t start = 0;
  for (;;) {
    auto end = rest.find('/', start);
    std::string comp = rest.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (comp.empty()) return bad("empty path component");
    if (!std::regex_match(comp, component_re()))
      return bad("bad component '" + comp + "' (lowercase letters and digits, joined by '.', '_', '__' or '-')");
    if (end == std::string::npos) break;
    start = end + 1;
  }
  ref.path = std::move(rest);
  return ref;
}

}  // namespace gantry
