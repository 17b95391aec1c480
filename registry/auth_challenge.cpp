#include "registry/auth_challenge.h"

#include <cctype>
#include <optional>

namespace gantry::registry {
namespace {

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~/").find(c) != std::string_view::npos;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  bool done() {
    skip_space();
    return pos_ >= s_.size();
  }
  bool eat(char c) {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::string token() {
    skip_space();
    std::size_t start = pos_;
    while (pos_ < s_.size() && is_token_char(s_[pos_])) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  std::string quoted_or_token() {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == '"') {
      ++pos_;
      std::string out;
      while (pos_ < s_.size() && s_[pos_] != '"') {
        if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
        out += s_[pos_++];
      }
      if (pos_ < s_.size()) ++pos_;
      return out;
    }
    // token68 or token (may contain '=' padding)
    std::size_t start = pos_;
    while (pos_ < s_.size() && (is_token_char(s_[pos_]) || s_[pos_] == '=' || s_[pos_] == ':')) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  std::size_t pos() const { return pos_; }
  void set_pos(std::size_t p) { pos_ = p; }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

std::vector<AuthChallenge> parse_www_authenticate(std::string_view header) {
  std::vector<AuthChallenge> out;
  Lexer lx(header);
  while (!lx.done()) {
    if (lx.eat(',')) continue;
    std::string scheme = lx.token();
    if (scheme.empty()) break;  // garbage: stop
    AuthChallenge ch;
    ch.scheme = lower(scheme);
    // params: name=value, separated by commas, until a token not followed by '='
    while (!lx.done()) {
      std::size_t save = lx.pos();
      lx.eat(',');
      std::string name = lx.token();
      if (name.empty() || !lx.eat('=')) {
        lx.set_pos(save);
        if (name.empty()) lx.eat(',');
        break;
      }
      ch.params[lower(name)] = lx.quoted_or_token();
    }
    out.push_back(std::move(ch));
    if (lx.pos() == 0) break;
  }
  return out;
}

namespace {

struct Origin {
  std::string scheme;  // lowercased
  std::string host;    // lowercased, without userinfo
  std::string port;    // the scheme's default when absent
};

std::optional<Origin> origin_of(std::string_view url) {
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  Origin o;
  o.scheme = lower(std::string(url.substr(0, sep)));
  std::string_view rest = url.substr(sep + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  // "[::1]:5000", "host:5000", "host"
  std::size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    o.host = lower(std::string(authority.substr(0, colon)));
    o.port = std::string(authority.substr(colon + 1));
  } else {
    o.host = lower(std::string(authority));
  }
  if (o.port.empty()) o.port = o.scheme == "https" ? "443" : o.scheme == "http" ? "80" : "";
  if (o.host.empty() || o.port.empty()) return std::nullopt;
  return o;
}

}  // namespace

bool realm_may_receive_credentials(std::string_view registry_base_url, std::string_view realm, bool tls_verified) {
  auto r = origin_of(realm);
  if (!r) return false;
  if (r->scheme == "https" && tls_verified) return true;
  auto reg = origin_of(registry_base_url);
  return reg && reg->scheme == r->scheme && reg->host == r->host && reg->port == r->port;
}

}  // namespace gantry::registry
