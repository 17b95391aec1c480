#include "runner/project_policy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "common/file_util.h"
#include "common/rooted_path.h"
#include "registry/reference.h"

namespace gantry::runner {

namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto end = text.find(sep, start);
    out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string allowed_list(const std::vector<std::string>& prefixes) {
  if (prefixes.empty()) return "none";
  std::string out;
  for (const auto& p : prefixes) out += (out.empty() ? "" : ", ") + p;
  return out;
}

}  // namespace

ProjectAccess project_access(const RunnerConfig& config, const std::string& repo_location,
                             const std::string& remote_url) {
  ProjectAccess access;
  access.project = derived_project(repo_location, remote_url);
  access.policy = config.policy_for(access.project);
  access.config_shown = config.path.empty() ? "none: built-in defaults, " + default_runner_config_path() +
                                                  " does not exist; see --runner-config"
                                            : config.path;
  return access;
}

bool push_allowed(const std::string& reference, const std::vector<std::string>& prefixes) {
  auto ref = registry::RegistryRef::parse(reference);
  if (!ref) return false;
  auto comps = split(lower(ref->host), '/');
  for (const auto& c : split(ref->repository, '/')) comps.push_back(c);
  for (std::string prefix : prefixes) {
    while (prefix.ends_with('/')) prefix.pop_back();
    if (prefix.empty()) continue;
    auto want = split(prefix, '/');
    want.front() = lower(want.front());
    if (want.size() <= comps.size() && std::equal(want.begin(), want.end(), comps.begin())) return true;
  }
  return false;
}

Status check_push_allowed(const std::string& reference, const ProjectAccess& access) {
  if (push_allowed(reference, access.policy.push_allow)) return {};
  return fail(ErrorKind::invalid_input,
              "push to " + reference + " refused: project '" + access.project + "' may push only below " +
                  allowed_list(access.policy.push_allow) + " (push: in projects." + access.project +
                  " of the runner config, " + access.config_shown + ")");
}

std::vector<std::string> push_targets(const pipeline::EnvironmentDef& env, const std::vector<std::string>& promoted) {
  std::vector<std::string> out;
  if (!env.push) return out;
  if (env.push->find("{image}") == std::string::npos) return {*env.push};
  for (const auto& name : promoted) {
    std::string dest = *env.push;
    dest.replace(dest.find("{image}"), 7, name);
    out.push_back(dest);
  }
  return out;
}

pipeline::Diagnostics check_project_access(const pipeline::Pipeline& p, const std::vector<std::string>& promoted,
                                           const ProjectAccess& access) {
  pipeline::Diagnostics diags;
  for (const auto& env : p.environments) {
    if (env.export_path && !access.policy.export_dir)
      diags.add(env.file, env.export_pos, "environments." + env.name + ".export",
                "the runner config (" + access.config_shown + ") sets no export_dir for project '" + access.project +
                    "' (projects." + access.project + ".export_dir or projects.\"*\".export_dir): exports are " +
                    "written only below it");
    for (const auto& target : push_targets(env, promoted))
      if (auto st = check_push_allowed(target, access); !st)
        diags.add(env.file, env.push_pos, "environments." + env.name + ".push", st.error().message());
  }
  return diags;
}

std::string ExportTarget::fd_path() const { return "/proc/self/fd/" + std::to_string(dir.get()) + "/" + name; }

Result<ExportTarget> open_export_target(const ProjectAccess& access, const std::string& rel) {
  if (!access.policy.export_dir)
    return fail(ErrorKind::invalid_input, "export to " + rel + ": the runner config (" + access.config_shown +
                                              ") sets no export_dir for project '" + access.project + "'");
  const std::string& root_dir = *access.policy.export_dir;
  if (rel.starts_with('/'))
    return fail(ErrorKind::invalid_input, "export to " + rel + ": exports are relative to the runner's export_dir " +
                                              root_dir);
  auto comps = TRY_CTX(split_beneath_path(rel), "export");
  if (comps.empty()) return fail(ErrorKind::invalid_input, "export: an empty path");
  TRY_CTX(make_dirs(root_dir), "export_dir of the runner config");
  UniqueFd root(::open(root_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return fail_sys("open export_dir", root_dir);
  ExportTarget target;
  target.name = comps.back();
  comps.pop_back();
  std::string parent;
  for (const auto& c : comps) parent += (parent.empty() ? "" : "/") + c;
  target.shown = root_dir + "/" + rel;
  target.dir = TRY_CTX(open_dir_beneath(root.get(), parent, Create::yes), "export to " + target.shown);
  struct stat st {};
  if (::fstatat(target.dir.get(), target.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
    return fail(ErrorKind::invalid_input, "export to " + target.shown + ": it is a symlink (not followed)");
  // An existing layout is merged into: its blobs/sha256 must be real directories too.
  if (!target.name.ends_with(".tar"))
    if (auto blobs = open_dir_beneath(target.dir.get(), target.name + "/blobs/sha256", Create::no);
        !blobs && blobs.error().errno_value() != ENOENT)
      return fail(std::move(blobs).error().context("export to " + target.shown));
  return target;
}

}  // namespace gantry::runner
