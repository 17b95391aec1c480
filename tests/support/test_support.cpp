#include "tests/support/test_support.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/file_util.h"

extern char** environ;

namespace gantry::testing {

ScratchDir::ScratchDir() {
  const char* base = std::getenv("TMPDIR");
  std::string parent = (base && *base) ? base : "/var/tmp";
  auto dir = TempDir::create(parent, "gantry-test-");
  if (!dir) throw std::runtime_error(dir.error().message());
  path_ = dir->release();
}

ScratchDir::~ScratchDir() { (void)remove_tree(path_); }

CommandResult run_command(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);

  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  for (const auto& kv : env) {
    auto key = kv.substr(0, kv.find('=') + 1);
    std::erase_if(env_strings, [&](const std::string& s) { return s.rfind(key, 0) == 0; });
    env_strings.push_back(kv);
  }
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  CommandResult result;
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    result.exit_code = 127;
    result.err = std::string("spawn ") + argv[0] + ": " + std::strerror(rc);
    return result;
  }
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

CommandResult run_shell(const std::string& script) { return run_command({"/bin/sh", "-c", script}); }

CommandResult run_gantry(const std::string& store, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {gantry_binary(), "--store", store};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

void write_file(const std::string& path, const std::string& content, unsigned mode) {
  auto slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    auto st = make_dirs(path.substr(0, slash));
    if (!st) throw std::runtime_error(st.error().message());
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("cannot write " + path);
  f << content;
  f.close();
  ::chmod(path.c_str(), mode);
}

std::string read_file_or_die(const std::string& path) {
  auto r = read_file(path);
  if (!r) throw std::runtime_error(r.error().message());
  return *r;
}

void make_busybox_rootfs(const std::string& dir) {
  std::string script =
      "set -e; d='" + dir + "'; mkdir -p $d/bin $d/etc $d/tmp $d/root $d/proc $d/sys $d/dev; "
      "cp /bin/busybox $d/bin/busybox; "
      "for a in $($d/bin/busybox --list); do [ $a = busybox ] || ln -sf busybox $d/bin/$a; done; "
      "printf 'root:x:0:0:root:/root:/bin/sh\\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\\n' > $d/etc/passwd; "
      "printf 'root:x:0:\\nnogroup:x:65534:\\n' > $d/etc/group; chmod 1777 $d/tmp";
  auto r = run_shell(script);
  if (r.exit_code != 0) throw std::runtime_error("make_busybox_rootfs: " + r.err);
}

}  // namespace gantry::testing
