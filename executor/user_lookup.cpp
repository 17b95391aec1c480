#include "executor/user_lookup.h"

#include <cerrno>
#include <charconv>
#include <optional>
#include <sstream>

namespace gantry::executor {
namespace {

std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto colon = line.find(':', start);
    out.push_back(line.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) return out;
    start = colon + 1;
  }
}

std::optional<unsigned> number(const std::string& s) {
  unsigned v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

template <typename F>
void for_each_entry(const std::string& file, F&& f) {
  std::istringstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (!f(fields(line))) return;
  }
}

}  // namespace

int resolve_user(const std::string& spec, const std::string& passwd, const std::string& group, ResolvedUser& out) {
  std::string user = spec, grp;
  if (auto colon = spec.find(':'); colon != std::string::npos) {
    user = spec.substr(0, colon);
    grp = spec.substr(colon + 1);
    if (grp.empty()) return EINVAL;
  }
  if (user.empty()) user = "0";
  out = ResolvedUser{};
  std::string name;
  bool found = false;
  auto uid = number(user);
  for_each_entry(passwd, [&](const std::vector<std::string>& f) {
    if (f.size() < 6) return true;
    bool match = uid ? number(f[2]) == uid : f[0] == user;
    if (!match) return true;
    found = true;
    name = f[0];
    out.uid = number(f[2]).value_or(0);
    out.gid = number(f[3]).value_or(0);
    if (!f[5].empty()) out.home = f[5];
    return false;
  });
  if (!found) {
    if (!uid) return ENOENT;  // a name must exist in the image
    out.uid = *uid;
    out.gid = 0;
    if (*uid == 0) out.home = "/root";
  }
  if (!grp.empty()) {
    auto gid = number(grp);
    bool gfound = gid.has_value();
    if (gid) out.gid = *gid;
    if (!gid) {
      for_each_entry(group, [&](const std::vector<std::string>& f) {
        if (f.size() < 3 || f[0] != grp) return true;
        if (auto g = number(f[2])) {
          out.gid = *g;
          gfound = true;
        }
        return false;
      });
    }
    if (!gfound) return ENOENT;
  }
  out.groups.push_back(out.gid);
  if (!name.empty()) {
    for_each_entry(group, [&](const std::vector<std::string>& f) {
      if (f.size() < 4) return true;
      std::istringstream members(f[3]);
      std::string m;
      while (std::getline(members, m, ','))
        if (m == name) {
          if (auto g = number(f[2]); g && *g != out.gid) out.groups.push_back(*g);
          break;
        }
      return true;
    });
  }
  return 0;
}

}  // namespace gantry::executor
