// The fixture of the rootless tests (docs/rootless.md): an unprivileged host
// user made by the test (with or without subordinate ids), removed with it,
// that runs the real gantry binary (setpriv, clean environment, its own HOME,
// so the default store $HOME/.local/share/gantry); TearDown checks that
// nothing of the user is left (no process, no mount under its HOME).
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/test_support.h"

namespace gantry::testing {

enum class Ids { subordinate, single };

inline std::string ids_name(const ::testing::TestParamInfo<Ids>& info) {
  return info.param == Ids::subordinate ? "SubordinateIds" : "SingleId";
}

inline std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The first "sha256:<64 hex>" in text ("" when none).
inline std::string first_digest(const std::string& text) {
  std::smatch m;
  static const std::regex re("sha256:[0-9a-f]{64}");
  return std::regex_search(text, m, re) ? m.str() : "";
}

inline std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

// An unprivileged host user made for one test, removed with it: no
// supplementary groups, its own HOME (0700) under the test's scratch dir,
// and with Ids::subordinate a range of 65536 subordinate uids and gids.
class HostUser {
 public:
  HostUser(Ids ids, const std::string& parent) : ids_(ids) {
    static int serial = 0;
    name_ = std::string("gantry-rl") + (ids == Ids::subordinate ? "s" : "n") + std::to_string(::getpid()) + "-" +
            std::to_string(serial++);
    // --system: useradd gives a system user no subordinate ids of its own.
    auto made = run_command({"useradd", "--system", "--no-create-home", "--shell", "/bin/sh", name_});
    if (made.exit_code != 0) {
      error_ = "useradd: " + made.err;
      return;
    }
    created_ = true;
    uid_ = static_cast<uid_t>(std::stoul(trim(run_command({"id", "-u", name_}).out)));
    gid_ = static_cast<gid_t>(std::stoul(trim(run_command({"id", "-g", name_}).out)));
    if (ids == Ids::subordinate) {
      sub_start_ = 400000 + static_cast<unsigned>(::getpid() % 4000) * 65536 + static_cast<unsigned>(serial) * 65536;
      range_ = std::to_string(sub_start_) + "-" + std::to_string(sub_start_ + 65535);
      auto sub = run_command({"usermod", "--add-subuids", range_, "--add-subgids", range_, name_});
      if (sub.exit_code != 0) error_ = "usermod --add-subuids: " + sub.err;
    }
    home_ = parent + "/home-" + name_;
    if (::mkdir(home_.c_str(), 0700) != 0 || ::chown(home_.c_str(), uid_, gid_) != 0)
      error_ = "cannot make the home " + home_;
  }
  ~HostUser() {
    if (!created_) return;
    if (!range_.empty()) run_command({"usermod", "--del-subuids", range_, "--del-subgids", range_, name_});
    run_command({"userdel", name_});
  }
  HostUser(const HostUser&) = delete;
  HostUser& operator=(const HostUser&) = delete;

  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }
  const std::string& home() const { return home_; }
  uid_t uid() const { return uid_; }
  unsigned sub_start() const { return sub_start_; }
  std::string store() const { return home_ + "/.local/share/gantry"; }

  // argv as this user in its HOME, with a clean environment (plus env).
  CommandResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) const {
    std::vector<std::string> full = {"setpriv", "--reuid=" + std::to_string(uid_), "--regid=" + std::to_string(gid_),
                                     "--clear-groups", "--", "env", "-i", "HOME=" + home_,
                                     "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "USER=" + name_};
    full.insert(full.end(), env.begin(), env.end());
    for (const char* s : {"sh", "-c", "cd \"$HOME\" && exec \"$@\"", "sh"}) full.push_back(s);
    full.insert(full.end(), argv.begin(), argv.end());
    return run_command(full);
  }
  CommandResult gantry(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) const {
    std::vector<std::string> argv{gantry_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, env);
  }
  // The user's processes still alive (pgrep's lines).
  std::string processes() const { return run_command({"pgrep", "-a", "-u", std::to_string(uid_)}).out; }

 private:
  Ids ids_;
  std::string name_, home_, error_, range_;
  bool created_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  unsigned sub_start_ = 0;
};

// A git repository with examples/hello-service, made by root; the user gets
// a copy of it (same commit) in its HOME.
inline std::string make_hello_repo(const std::string& dir) {
  auto r = run_shell("set -e; mkdir -p '" + dir + "'; cp -r '" + source_dir() + "/examples/hello-service/.' '" + dir +
                     "'; cd '" + dir + "'; git init -q -b main; git add -A; "
                     "GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z "
                     "git -c user.name=t -c user.email=t@example.org commit -q -m hello-service; git rev-parse HEAD");
  if (r.exit_code != 0) throw std::runtime_error("make_hello_repo: " + r.err);
  return trim(r.out);
}

inline void give_copy(const std::string& from, const std::string& to, const HostUser& user) {
  auto r = run_shell("cp -a '" + from + "' '" + to + "' && chown -R " + std::to_string(user.uid()) + " '" + to + "'");
  if (r.exit_code != 0) throw std::runtime_error("give_copy: " + r.err);
}

class RootlessTest : public ::testing::TestWithParam<Ids> {
 protected:
  void SetUp() override {
    GANTRY_REQUIRE_ROOT();  // to make the users; gantry then runs as them
    if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) is missing";
    ASSERT_EQ(::chmod(scratch_.path().c_str(), 0755), 0);
    user_ = std::make_unique<HostUser>(GetParam(), scratch_.path());
    ASSERT_EQ(user_->error(), "");
    // The user must reach the binaries under test (a build tree in a 0700 dir would not do).
    auto reach = user_->run({"test", "-x", gantry_binary()});
    if (reach.exit_code != 0) GTEST_SKIP() << gantry_binary() << " is not executable by an unprivileged user";
  }
  void TearDown() override {
    if (!user_ || !user_->error().empty()) return;
    // Nothing of the user's gantry outlives its commands: no process, no
    // mount (the containers' mounts lived in their own mount namespaces).
    EXPECT_EQ(user_->processes(), "") << "processes left behind";
    auto mounts = read_file_or_die("/proc/self/mountinfo");
    EXPECT_EQ(mounts.find(user_->home()), std::string::npos) << "a mount left behind under " << user_->home();
    user_.reset();
  }

  // Imports the busybox base image as the user (ci/make-busybox-image); its digest.
  std::string user_busybox() {
    auto r = user_->run({source_dir() + "/ci/make-busybox-image"}, {"GANTRY=" + gantry_binary()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return first_digest(r.out);
  }

  // Root's reference: the same inputs in a store of root's (once per process).
  static const std::string& root_busybox() {
    static const std::string digest = [] {
      static ScratchDir dir;
      auto r = run_command({source_dir() + "/ci/make-busybox-image", "--store", dir / "store"},
                           {"GANTRY=" + gantry_binary()});
      EXPECT_EQ(r.exit_code, 0) << r.err;
      return first_digest(r.out);
    }();
    return digest;
  }

  ScratchDir scratch_;
  std::unique_ptr<HostUser> user_;
};

}  // namespace gantry::testing
