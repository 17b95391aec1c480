#include "common/image_ref.h"

// Hand-written matchers for the distribution spec's grammar (the regular
// expressions in comments): std::regex compiled them at every start of
// gantry, ~4% of a `gantry exec`'s time.
namespace gantry {

namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool hex_or_colon_or_dot(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

// [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
bool is_path_component(std::string_view s) {
  std::size_t i = 0;
  auto run = [&] {
    std::size_t from = i;
    while (i < s.size() && lower_alnum(s[i])) ++i;
    return i > from;
  };
  if (!run()) return false;
  while (i < s.size()) {
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      ++i;
      if (i < s.size() && s[i] == '_') ++i;
    } else if (s[i] == '-') {
      while (i < s.size() && s[i] == '-') ++i;
    } else {
      return false;
    }
    if (!run()) return false;
  }
  return true;
}

// [A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]
bool is_domain_label(std::string_view s) {
  if (s.empty() || s.front() == '-' || s.back() == '-') return false;
  for (char c : s)
    if (!alnum(c) && c != '-') return false;
  return true;
}

// (?:LABEL(?:\.LABEL)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?
bool is_registry_host(std::string_view s) {
  std::string_view name = s, port;
  if (s.starts_with('[')) {
    auto close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : s.substr(1, close - 1))
      if (!hex_or_colon_or_dot(c)) return false;
    name = {};
    std::string_view after = s.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      port = after.substr(1);
      if (port.empty()) return false;
    }
  } else if (auto colon = s.find(':'); colon != std::string_view::npos) {
    name = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (port.empty()) return false;
  }
  if (port.size() > 5) return false;
  for (char c : port)
    if (c < '0' || c > '9') return false;
  if (s.starts_with('[')) return true;
  std::size_t start = 0;
  for (;;) {
    auto dot = name.find('.', start);
    if (!is_domain_label(name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start)))
      return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

bool looks_like_registry_host(std::string_view first) {
  return first.find_first_of(".:") != std::string_view::npos || first == "localhost" || first.starts_with('[');
}

// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
bool is_valid_image_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  if (!alnum(tag.front()) && tag.front() != '_') return false;
  for (char c : tag)
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
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
    if (!is_registry_host(ref.host)) return bad("bad registry host '" + ref.host + "'");
  }
  if (rest.empty()) return bad("no repository name");
  if (rest.size() > 255) return bad("name longer than 255 characters");
  std::size_t start = 0;
  for (;;) {
    auto end = rest.find('/', start);
    std::string comp = rest.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (comp.empty()) return bad("empty path component");
    if (!is_path_component(comp))
      return bad("bad component '" + comp + "' (lowercase letters and digits, joined by '.', '_', '__' or '-')");
    if (end == std::string::npos) break;
    start = end + 1;
  }
  ref.path = std::move(rest);
  return ref;
}

}  // namespace gantry
