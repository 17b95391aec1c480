// Image references: NAME[:TAG], NAME@sha256:<hex>, sha256:<hex>.
#include "cache/image_store.h"

namespace gantry::cache {

namespace {

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; };
  if (!word(t[0])) return false;
  for (char c : t)
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

// Path components: lowercase alphanumerics joined by '.', '_', '__' or '-'
// runs; the first component may be a registry host[:port].
std::string check_name(std::string_view name) {
  if (name.empty()) return "empty name";
  if (name.size() > 255) return "name longer than 255 characters";
  std::size_t start = 0;
  bool first = true;
  while (start <= name.size()) {
    std::size_t slash = name.find('/', start);
    if (slash == std::string_view::npos) slash = name.size();
    std::string_view comp = name.substr(start, slash - start);
    if (comp.empty()) return "empty path component";
    bool more = slash < name.size();
    bool host = first && more &&
                (comp.find('.') != std::string_view::npos || comp.find(':') != std::string_view::npos || comp == "localhost");
    if (host) {
      std::size_t colon = comp.find(':');
      std::string_view h = comp.substr(0, colon);
      for (char c : h)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
          return "bad character in registry host '" + std::string(h) + "'";
      if (h.empty()) return "empty registry host";
      if (colon != std::string_view::npos) {
        std::string_view port = comp.substr(colon + 1);
        if (port.empty() || port.size() > 5) return "bad registry port in '" + std::string(comp) + "'";
        for (char c : port)
          if (c < '0' || c > '9') return "bad registry port in '" + std::string(comp) + "'";
      }
    } else {
      auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
      if (!alnum(comp.front()) || !alnum(comp.back()))
        return "component '" + std::string(comp) + "' must start and end with a lowercase letter or digit";
      for (char c : comp)
        if (!alnum(c) && c != '.' && c != '_' && c != '-')
          return "bad character '" + std::string(1, c) + "' in '" + std::string(comp) +
                 "' (lowercase letters, digits, '.', '_', '-')";
    }
    first = false;
    start = slash + 1;
    if (!more) break;
  }
  return "";
}

}  // namespace

std::string Reference::str() const {
  if (digest && name.empty()) return digest->str();
  if (digest) return name + "@" + digest->str();
  return name + ":" + tag;
}

Result<Reference> Reference::parse(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return fail(ErrorKind::invalid_input, "malformed image reference '" + text + "': " + why);
  };
  Reference ref;
  if (text.starts_with("sha256:")) {
    auto d = Digest::parse(text);
    if (!d) return fail(d.error());
    ref.digest = *d;
    return ref;
  }
  std::string rest = text;
  if (auto at = rest.find('@'); at != std::string::npos) {
    auto d = Digest::parse(rest.substr(at + 1));
    if (!d) return fail(d.error().context("image reference '" + text + "'"));
    ref.digest = *d;
    rest = rest.substr(0, at);
  }
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    ref.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!valid_tag(ref.tag)) return bad("tag '" + ref.tag + "' must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'");
  } else if (!ref.digest) {
    ref.tag = "latest";
  }
  if (auto why = check_name(rest); !why.empty()) return bad(why);
  ref.name = rest;
  return ref;
}

}  // namespace gantry::cache
