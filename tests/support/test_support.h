// Shared helpers for gantry's tests: temp dirs, the gantry binary, a busybox
// rootfs from Debian's busybox-static, and skipping root-only tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace gantry::testing {

// Skips the current test with a stated reason unless running as root.
#define GANTRY_REQUIRE_ROOT()                                                              \
  do {                                                                                     \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, mounts, cgroups); CI runs as root"; \
  } while (0)

// The gantry binary under test.
inline std::string gantry_binary() { return GANTRY_BINARY; }
inline std::string source_dir() { return GANTRY_SOURCE_DIR; }

// A fresh directory under $TMPDIR (or /var/tmp), removed by the destructor.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs argv (no shell), capturing stdout and stderr; env entries "K=V" are
// added to the current environment.
CommandResult run_command(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
// Runs `sh -c script`.
CommandResult run_shell(const std::string& script);
// Runs the gantry binary with --store store and args.
CommandResult run_gantry(const std::string& store, const std::vector<std::string>& args);

// Writes a file (creating parent directories).
void write_file(const std::string& path, const std::string& content, unsigned mode = 0644);
std::string read_file_or_die(const std::string& path);

// Makes a busybox rootfs (bin/busybox from busybox-static + applet symlinks,
// etc/passwd, etc/group, tmp) in dir.
void make_busybox_rootfs(const std::string& dir);

}  // namespace gantry::testing
