// Checks a ContainerSpec before anything is created, so bad input is a clear
// error and leaves nothing behind; maps init reports to user-facing errors.
#include "executor/spec_check.h"

#include <sys/stat.h>

#include <cstring>

namespace gantry::executor {
namespace {

Error start_error(StartFailure f, std::string message) {
  return Error(f == StartFailure::not_found ? ErrorKind::not_found : ErrorKind::invalid_input, std::move(message),
               -static_cast<int>(f));
}

bool has_dotdot(const std::string& path) {
  std::size_t start = 0;
  for (;;) {
    auto slash = path.find('/', start);
    if (path.compare(start, slash == std::string::npos ? std::string::npos : slash - start, "..") == 0) return true;
    if (slash == std::string::npos) return false;
    start = slash + 1;
  }
}

}  // namespace

int start_failure_exit_code(const Error& error) {
  int e = -error.errno_value();
  if (e == static_cast<int>(StartFailure::not_found) || e == static_cast<int>(StartFailure::not_executable)) return e;
  return static_cast<int>(StartFailure::cannot_start);
}

Status check_spec(const ContainerSpec& spec) {
  auto bad = [](std::string msg) { return std::unexpected(start_error(StartFailure::cannot_start, std::move(msg))); };
  if (spec.argv.empty() || spec.argv[0].empty()) return bad("no command to run");
  if (spec.lowerdirs.empty()) return bad("no layers: a container needs at least one lower dir");
  if (spec.work_root.empty() || spec.work_root[0] != '/') return bad("work_root must be an absolute path");
  for (const auto& dir : spec.lowerdirs) {
    struct stat st;
    if (dir.empty() || dir[0] != '/') return bad("layer dir is not an absolute path: " + dir);
    if (dir.find_first_of(":,") != std::string::npos) return bad("layer dir has ':' or ',' (overlayfs cannot take it): " + dir);
    if (::stat(dir.c_str(), &st) != 0) return bad("layer dir " + dir + ": " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) return bad("layer dir is not a directory: " + dir);
  }
  if (spec.work_root.find_first_of(":,") != std::string::npos)
    return bad("work_root has ':' or ',' (overlayfs cannot take it): " + spec.work_root);
  if (spec.netns_fd >= 0 && spec.network != NetworkMode::none)
    return bad("joining a network namespace (netns_fd) needs network none");
  for (const auto& [name, address] : spec.extra_hosts)
    if (name.empty() || address.empty() || (name + address).find_first_of(" \t\n#") != std::string::npos)
      return bad("bad /etc/hosts entry '" + name + "' -> '" + address + "'");
  if (!spec.workdir.empty() && spec.workdir[0] != '/') return bad("working directory must be absolute: " + spec.workdir);
  for (const auto& m : spec.mounts) {
    struct stat st;
    if (m.source.empty() || m.source[0] != '/') return bad("bind mount source must be absolute: " + m.source);
    if (::stat(m.source.c_str(), &st) != 0)
      return bad("bind mount source " + m.source + ": " + std::strerror(errno));
    if (m.target.empty() || m.target[0] != '/' || m.target.find_first_not_of('/') == std::string::npos)
      return bad("bind mount target must be an absolute path below /: " + m.target);
    if (has_dotdot(m.target)) return bad("bind mount target must not contain '..': " + m.target);
  }
  if (spec.limits.memory_bytes && *spec.limits.memory_bytes < 4096 * 1024)
    return bad("memory limit below 4 MiB cannot start a container");
  if (spec.limits.pids && *spec.limits.pids < 2) return bad("pids limit below 2 cannot start a container");
  if (spec.limits.cpus && !(*spec.limits.cpus > 0)) return bad("cpus must be > 0");
  // (tmpfs size=0 would mean no limit at all.)
  if (spec.limits.tmpfs_bytes && *spec.limits.tmpfs_bytes < 1024 * 1024)
    return bad("an upper tmpfs limit below 1 MiB cannot start a container");
  if (spec.limits.file_bytes && *spec.limits.file_bytes == 0) return bad("a file size limit must be > 0");
  if (spec.hostname.size() > 64) return bad("hostname longer than 64 bytes: " + spec.hostname);
  for (const auto& e : spec.env)
    if (e.find('=') == std::string::npos || e[0] == '=') return bad("environment entry is not K=V: " + e);
  return {};
}

Error init_failure(const ContainerSpec& spec, const InitMessage& m) {
  std::string why = std::strerror(m.err);
  const std::string& cmd = spec.argv.empty() ? std::string() : spec.argv[0];
  switch (m.step) {
    case Step::exec_command:
      if (m.err == ENOENT) return start_error(StartFailure::not_found, "command not found in the container: " + cmd);
      return start_error(StartFailure::not_executable, "cannot execute " + cmd + ": " + why);
    case Step::resolve_user:
      if (m.err == ENOENT)
        return start_error(StartFailure::cannot_start,
                           "user \"" + spec.user + "\" not found in the image's /etc/passwd or /etc/group");
      return start_error(StartFailure::cannot_start, "user \"" + spec.user + "\": " + why);
    case Step::bind_mounts:
      if (m.index >= 0 && static_cast<std::size_t>(m.index) < spec.mounts.size()) {
        const auto& b = spec.mounts[static_cast<std::size_t>(m.index)];
        return start_error(StartFailure::cannot_start, "bind mount " + b.source + " -> " + b.target + ": " + why);
      }
      break;
    case Step::mount_rootfs:
      return start_error(StartFailure::cannot_start, "mounting the overlay of the image's layers: " + why);
    case Step::chdir_workdir:
      return start_error(StartFailure::cannot_start, "working directory " + spec.workdir + ": " + why);
    default:
      break;
  }
  return start_error(StartFailure::cannot_start,
                     std::string("container setup failed at step ") + step_name(m.step) + ": " + why);
}

}  // namespace gantry::executor
