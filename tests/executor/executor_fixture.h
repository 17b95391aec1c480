// Shared fixture of the executor tests: one busybox rootfs per test binary
// (a plain directory is a valid single lowerdir), a fresh work_root per test,
// and a run() helper that collects the output.
#pragma once

#include <gtest/gtest.h>

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "executor/container.h"
#include "tests/support/test_support.h"

namespace gantry::testing {

struct Ran {
  Result<executor::ContainerResult> result;
  std::string out;
  std::string err;
  std::vector<std::string> out_lines;
};

// The containers' PID 1, built next to gantry.
inline std::string gantry_init_binary() {
  std::string g = gantry_binary();
  return g.substr(0, g.rfind('/') + 1) + "gantry-init";
}

class ExecutorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    rootfs_dir_ = std::make_unique<ScratchDir>();
    make_busybox_rootfs(rootfs_dir_->path());
  }
  static void TearDownTestSuite() { rootfs_dir_.reset(); }

  void SetUp() override { GANTRY_REQUIRE_ROOT(); }

  static std::string rootfs() { return rootfs_dir_->path(); }
  std::string work_root() const { return scratch_ / "containers"; }

  executor::ContainerSpec spec(std::vector<std::string> argv) const {
    executor::ContainerSpec s;
    s.lowerdirs = {rootfs()};
    s.argv = std::move(argv);
    s.work_root = work_root();
    s.init_binary = gantry_init_binary();
    return s;
  }
  executor::ContainerSpec sh(const std::string& script) const { return spec({"/bin/sh", "-c", script}); }

  static Ran run(executor::ContainerSpec s, std::stop_token stop = {}) {
    Ran ran{fail(ErrorKind::internal, "not run"), {}, {}, {}};
    auto mu = std::make_shared<std::mutex>();
    auto user_sink = s.output;
    s.output = [&, mu, user_sink](executor::Stream stream, std::string_view line) {
      std::lock_guard lock(*mu);
      if (stream == executor::Stream::out) {
        ran.out.append(line).push_back('\n');
        ran.out_lines.emplace_back(line);
      } else {
        ran.err.append(line).push_back('\n');
      }
      if (user_sink) user_sink(stream, line);
    };
    ran.result = executor::run(s, stop);
    return ran;
  }

  // Entries left in the work root (the container dirs must all be gone).
  // What a container left in work_root (recursively for the "mem" dir: the
  // permanent, empty mount point of in-memory containers' tmpfs, which must
  // stay empty on the host).
  std::vector<std::string> work_root_entries() const { return entries_of(work_root(), true); }

  static std::vector<std::string> entries_of(const std::string& dir, bool top) {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        if (top && name == "mem") {
          for (auto& inner : entries_of(dir + "/mem", false)) names.push_back("mem/" + inner);
          continue;
        }
        names.push_back(name);
      }
      ::closedir(d);
    }
    return names;
  }

  ScratchDir scratch_;
  static inline std::unique_ptr<ScratchDir> rootfs_dir_;
};

// The host's processes: pid directory name -> command line (NULs between
// the arguments, and after the last).
inline std::vector<std::pair<std::string, std::string>> host_processes() {
  std::vector<std::pair<std::string, std::string>> out;
  DIR* d = ::opendir("/proc");
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/cmdline", std::ios::binary);
    out.emplace_back(e->d_name, std::string((std::istreambuf_iterator<char>(f)), {}));
  }
  ::closedir(d);
  return out;
}

// Processes on the host whose command line is exactly `cmdline`.
inline int count_host_processes(const std::string& cmdline) {
  int n = 0;
  for (const auto& [pid, c] : host_processes()) n += c == cmdline;
  return n;
}

// A number of seconds for `sleep` that no other test process uses (ctest runs
// tests in parallel, each in its own process), so count_host_processes()
// counts only this test's sleeps.
inline std::string unique_sleep_seconds() { return std::to_string(100000 + ::getpid()); }

// "ok" result with the exit code, or a readable failure.
#define ASSERT_RAN(ran)                                                                               \
  ASSERT_TRUE((ran).result.has_value()) << "run failed: " << (ran).result.error().message() << "\n" \
                                        << (ran).err

}  // namespace gantry::testing
