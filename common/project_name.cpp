#include "common/project_name.h"

#include <filesystem>

namespace gantry {

std::string project_for_repository(const std::string& repo_location) {
  std::string loc = repo_location;
  bool url = loc.find("://") != std::string::npos;
  // scp-like "user@host:path": a ':' before any '/'
  if (auto colon = loc.find(':'); colon != std::string::npos && loc.find('/') > colon) url = true;
  if (!url) {
    std::error_code ec;
    auto abs = std::filesystem::weakly_canonical(std::filesystem::absolute(loc, ec), ec);
    if (!ec) loc = abs.string();
  }
  while (loc.size() > 1 && loc.back() == '/') loc.pop_back();
  if (auto cut = loc.find_last_of(url ? "/:" : "/"); cut != std::string::npos) loc = loc.substr(cut + 1);
  if (loc.ends_with(".git") && loc.size() > 4) loc.resize(loc.size() - 4);
  return loc;
}

std::string derived_project(const std::string& repo_location, const std::string& remote_url) {
  return project_for_repository(remote_url.empty() ? repo_location : remote_url);
}

std::optional<std::string> project_name_problem(const std::string& name) {
  constexpr std::size_t kMax = 64;
  if (name.empty()) return "a project name must not be empty";
  if (name.size() > kMax) return "'" + name + "' is longer than 64 characters";
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front())) return "'" + name + "' must start with a letter or a digit";
  for (char c : name)
    if (!alnum(c) && c != '.' && c != '_' && c != '-')
      return "'" + name + "' may hold only letters, digits, '.', '_' and '-' (as `gantry secret --project`)";
  return std::nullopt;
}

}  // namespace gantry
