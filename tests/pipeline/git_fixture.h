// A real git repository made with the git CLI for the pipeline tests.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/support/test_support.h"

namespace gantry::pipeline::testing {

using gantry::testing::CommandResult;
using gantry::testing::ScratchDir;

class TestRepo {
 public:
  // A work tree at <scratch>/<name> on branch main (or a bare repository).
  explicit TestRepo(const ScratchDir& scratch, const std::string& name = "repo", bool bare = false)
      : path_(scratch / name) {
    std::vector<std::string> argv{"git", "init", "-q", "-b", "main"};
    if (bare) argv.push_back("--bare");
    argv.push_back(path_);
    must(argv);
  }

  const std::string& path() const { return path_; }
  std::string file_url() const { return "file://" + path_; }

  void write(const std::string& rel, const std::string& content, unsigned mode = 0644) {
    gantry::testing::write_file(path_ + "/" + rel, content, mode);
    ::chmod((path_ + "/" + rel).c_str(), mode);
  }
  void symlink(const std::string& target, const std::string& rel) {
    ::unlink((path_ + "/" + rel).c_str());
    EXPECT_EQ(::symlink(target.c_str(), (path_ + "/" + rel).c_str()), 0);
  }
  void remove(const std::string& rel) { git({"rm", "-q", "-r", rel}); }

  // Commits everything in the work tree; returns the new commit id.
  std::string commit(const std::string& message, long when = 0) {
    git({"add", "-A"});
    std::vector<std::string> env = identity();
    if (when == 0) when = 1'700'000'000 + static_cast<long>(++commits_) * 60;
    env.push_back("GIT_COMMITTER_DATE=@" + std::to_string(when) + " +0000");
    env.push_back("GIT_AUTHOR_DATE=@" + std::to_string(when) + " +0000");
    must({"git", "-C", path_, "commit", "-q", "--allow-empty", "-m", message}, env);
    return rev_parse("HEAD");
  }

  std::string rev_parse(const std::string& rev) {
    auto r = must({"git", "-C", path_, "rev-parse", "--verify", rev + "^{commit}"});
    return r.out.substr(0, r.out.find('\n'));
  }

  CommandResult git(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"git", "-C", path_};
    argv.insert(argv.end(), args.begin(), args.end());
    return must(argv, identity());
  }

 private:
  static std::vector<std::string> identity() {
    return {"GIT_AUTHOR_NAME=Ada Tester", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada Tester",
            "GIT_COMMITTER_EMAIL=ada@example.com", "GIT_CONFIG_NOSYSTEM=1"};
  }
  static CommandResult must(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
    auto r = gantry::testing::run_command(argv, env);
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.err;
    return r;
  }

  std::string path_;
  int commits_ = 0;
};

}  // namespace gantry::pipeline::testing
