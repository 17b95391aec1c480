// A hostile repository against the host side of a run (docs/security.md,
// "Guarantees, by attack"): artifacts that go through symlinks the stage
// made, and exports the pipeline points outside the runner's export_dir.
// Each test plants a canary on the host and checks it is untouched.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

namespace fs = std::filesystem;

// name -> content (regular files), "-> target" (symlinks), "/" (dirs), walked
// without following anything.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::string rel = fs::relative(it->path(), dir).string();
    if (it->is_symlink()) out[rel] = "-> " + fs::read_symlink(it->path()).string();
    else if (it->is_directory()) out[rel] = "/";
    else out[rel] = read_file_or_die(it->path());
  }
  return out;
}

// True when some regular file below dir (symlinks not followed) contains needle.
bool any_file_contains(const std::string& dir, const std::string& needle) {
  for (const auto& [rel, content] : snapshot(dir))
    if (content != "/" && !content.starts_with("-> ") && content.find(needle) != std::string::npos) return true;
  return false;
}

class HostileRepoTest : public RunFixture {
 protected:
  void SetUp() override {
    RunFixture::SetUp();
    canary_ = dir_ / "canary";
    write_file(canary_ + "/canary.txt", "host canary, unchanged\n");
    write_file(canary_ + "/shadow", "root:HOST-SECRET-HASH-5521:19000:0:99999:7:::\n");
    before_ = snapshot(canary_);
  }
  void expect_canary_untouched() { EXPECT_EQ(snapshot(canary_), before_) << "the host canary dir changed"; }
  std::string logs(const nlohmann::json& run, const std::string& stage) {
    return run_gantry(store_, {"logs", run.value("id", ""), stage}).out;
  }
  std::string run_dir(const nlohmann::json& run) { return store_ + "/runs/" + run.value("id", ""); }

  std::string canary_;
  std::map<std::string, std::string> before_;
};

TEST_F(HostileRepoTest, Artifact_ThroughASymlinkToHostEtc_NeverCopiesTheHostFile) {
  GANTRY_REQUIRE_ROOT();
  commit({{".gantry.yml",
           "stages:\n"
           "  etc: {image: busybox, allow_failure: true, run: 'ln -s /etc /out', artifacts: [/out/shadow]}\n"
           "  dir: {image: busybox, allow_failure: true, run: 'ln -s " + canary_ + " /out',"
           " artifacts: [/out/shadow]}\n"
           "  use:\n"
           "    image: busybox\n"
           "    needs: [etc, dir]\n"
           "    run: 'cat /artifacts/etc/out/shadow /artifacts/dir/out/shadow; ls -laR /artifacts; true'\n"}});
  auto run = run_json({}, {}, 0);
  for (const char* name : {"etc", "dir"}) {
    EXPECT_EQ(stage(run, name).value("status", ""), "failed") << run.dump(2);
    EXPECT_NE(stage(run, name).value("detail", "").find("goes through a symlink"), std::string::npos) << run.dump(2);
  }
  EXPECT_EQ(stage(run, "use").value("status", ""), "passed") << run.dump(2);
  std::string seen = logs(run, "use");
  EXPECT_EQ(seen.find("HOST-SECRET-HASH-5521"), std::string::npos) << seen;
  EXPECT_FALSE(any_file_contains(run_dir(run), "HOST-SECRET-HASH-5521"));
  // The host's own /etc/shadow, when it has one with content.
  std::ifstream shadow("/etc/shadow");
  std::string first_line;
  if (shadow && std::getline(shadow, first_line) && first_line.size() > 8) {
    EXPECT_EQ(seen.find(first_line), std::string::npos);
    EXPECT_FALSE(any_file_contains(run_dir(run), first_line));
  }
  expect_canary_untouched();
}

TEST_F(HostileRepoTest, Artifact_ThroughASymlinkToAHostDir_WritesNothingThere) {
  GANTRY_REQUIRE_ROOT();
  // The image holds /d/x/pwned; the stage swaps /d for a link to the host dir.
  commit({{".gantry.yml",
           "images:\n  evil: {from: busybox, steps: [{run: 'mkdir -p /d/x && echo pwned > /d/x/pwned'}]}\n"
           "stages:\n"
           "  plant: {image: evil, run: 'rm -rf /d && ln -s " + canary_ + " /d', artifacts: [/d, /d/x/pwned]}\n"}});
  auto run = run_json({}, {}, 1);
  EXPECT_EQ(stage(run, "plant").value("status", ""), "failed") << run.dump(2);
  EXPECT_NE(stage(run, "plant").value("detail", "").find("artifact /d/x/pwned"), std::string::npos) << run.dump(2);
  expect_canary_untouched();
  EXPECT_FALSE(fs::exists(canary_ + "/x"));
}

TEST_F(HostileRepoTest, Artifact_ThatIsASymlink_IsCopiedAsASymlink) {
  GANTRY_REQUIRE_ROOT();
  commit({{".gantry.yml",
           "stages:\n"
           "  make:\n"
           "    image: busybox\n"
           "    run: 'mkdir -p /out/tree && echo data-77 > /out/real && ln -s real /out/link &&"
           " ln -s " + canary_ + " /out/tree/host && echo inside > /out/tree/file'\n"
           "    artifacts: [/out/real, /out/link, /out/tree]\n"
           "  use:\n"
           "    image: busybox\n"
           "    needs: [make]\n"
           "    run:\n"
           "      - test \"$(readlink /artifacts/make/out/link)\" = real\n"
           "      - grep data-77 /artifacts/make/out/link\n"
           "      - test -L /artifacts/make/out/tree/host\n"
           "      - grep inside /artifacts/make/out/tree/file\n"}});
  auto run = run_json();
  EXPECT_EQ(run.value("status", ""), "passed") << run.dump(2);
  const std::string out = run_dir(run) + "/artifacts/make/out";
  EXPECT_TRUE(fs::is_symlink(out + "/link"));
  EXPECT_EQ(fs::read_symlink(out + "/link").string(), "real");
  EXPECT_TRUE(fs::is_symlink(out + "/tree/host"));
  EXPECT_EQ(fs::read_symlink(out + "/tree/host").string(), canary_);
  EXPECT_EQ(read_file_or_die(out + "/real"), "data-77\n");
  expect_canary_untouched();
}

TEST_F(HostileRepoTest, Artifact_Directory_IsWhatTheStageSaw_MergedOverTheImageLayers) {
  GANTRY_REQUIRE_ROOT();
  commit({{".gantry.yml",
           "images:\n  base:\n    from: busybox\n    steps:\n"
           "      - run: 'mkdir -p /app/sub /app/redo && echo a > /app/a && echo x > /app/sub/x &&"
           " echo gone > /app/gone && echo stale > /app/redo/stale && echo old > /app/a2'\n"
           "stages:\n"
           "  make:\n"
           "    image: base\n"
           "    run: 'echo b > /app/b && rm /app/gone && echo y > /app/sub/y && rm -rf /app/redo &&"
           " mkdir /app/redo && echo fresh > /app/redo/only && echo new > /app/a2'\n"
           "    artifacts: [/app]\n"}});
  auto run = run_json();
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  std::map<std::string, std::string> want = {{"a", "a\n"},         {"a2", "new\n"},  {"b", "b\n"},
                                             {"sub", "/"},          {"sub/x", "x\n"}, {"sub/y", "y\n"},
                                             {"redo", "/"},         {"redo/only", "fresh\n"}};
  EXPECT_EQ(snapshot(run_dir(run) + "/artifacts/make/app"), want);
}

TEST_F(HostileRepoTest, Artifact_SparseFile_StaysSparseOnTheHost) {
  GANTRY_REQUIRE_ROOT();
  // 4 GiB apparent size, one block of data at the end: a few KiB of tmpfs (kept
  // small: were the copy not sparse, this test would write all of it).
  commit({{".gantry.yml",
           "stages:\n"
           "  make: {image: busybox, run: 'mkdir /out && truncate -s 4G /out/big && echo end >> /out/big',"
           " artifacts: [/out/big]}\n"}});
  auto run = run_json();
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  struct stat st {};
  ASSERT_EQ(::stat((run_dir(run) + "/artifacts/make/out/big").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, (4ll << 30) + 4);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the copy was not kept sparse";
}

TEST_F(HostileRepoTest, Artifact_DeepTree_FailsTheStageNotTheRunner) {
  GANTRY_REQUIRE_ROOT();
  commit({{".gantry.yml",
           "stages:\n"
           "  make: {image: busybox, artifacts: [/out],"
           " run: 'mkdir /out && cd /out && i=0 && while [ $i -lt 400 ]; do mkdir d && cd d; i=$((i+1)); done'}\n"}});
  auto run = run_json({}, {}, 1);
  EXPECT_EQ(stage(run, "make").value("status", ""), "failed") << run.dump(2);
  EXPECT_NE(stage(run, "make").value("detail", "").find("more than 256 nested directories"), std::string::npos)
      << run.dump(2);
}

// A pipeline promoting busybox's stages' image to staging with `export:`.
std::string export_pipeline(const std::string& export_path) {
  return "stages:\n"
         "  unit: {image: busybox, run: 'true'}\n"
         "environments:\n"
         "  - test\n"
         "  - name: staging\n"
         "    export: '" + export_path + "'\n";
}

TEST_F(HostileRepoTest, Export_AbsoluteOrDotDotPath_IsAValidationErrorAtItsLine) {
  use_runner_config("projects:\n  repo: {export_dir: " + (dir_ / "exports") + "}\n");
  for (const std::string& path : {canary_ + "/abs.tar", std::string("../escaped.tar"), std::string("a/../../b.tar")}) {
    commit({{".gantry.yml", export_pipeline(path)}});
    auto r = run();
    EXPECT_NE(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(std::regex_search(r.err, std::regex(R"(\.gantry\.yml:6:\d+: environments\[1\]\.export)")))
        << path << "\n" << r.err;
    if (path.starts_with('/')) EXPECT_NE(r.err.find("exports are written below the runner's export_dir"), std::string::npos) << r.err;
    else EXPECT_NE(r.err.find("'..'"), std::string::npos) << r.err;
  }
  EXPECT_EQ(run_count(), 0u);
  EXPECT_FALSE(fs::exists(dir_ / "escaped.tar"));
  EXPECT_FALSE(fs::exists(dir_ / "b.tar"));
  expect_canary_untouched();
}

TEST_F(HostileRepoTest, Export_WithoutAnExportDir_IsRefusedNamingTheKeyAndTheRunnerConfig) {
  // Another project has an export_dir; this one ("repo") has none.
  use_runner_config("projects:\n  other: {export_dir: " + canary_ + "}\n");
  commit({{".gantry.yml", export_pipeline("app.tar")}});
  auto r = run();
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("environments.staging.export"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sets no export_dir for project 'repo'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(runner_config_), std::string::npos) << r.err;
  EXPECT_EQ(run_count(), 0u);
  expect_canary_untouched();
}

TEST_F(HostileRepoTest, Export_ThroughASymlinkInsideTheExportDir_WritesNothingOutside) {
  GANTRY_REQUIRE_ROOT();
  const std::string exports = dir_ / "exports";
  use_runner_config("projects:\n  \"*\": {export_dir: " + exports + "}\n");
  fs::create_directories(exports);
  fs::create_directory_symlink(canary_, exports + "/link");
  fs::create_symlink(canary_ + "/canary.txt", exports + "/leaf.tar");
  for (const char* path : {"link/app.tar", "leaf.tar", "link"}) {
    commit({{".gantry.yml", export_pipeline(path)}});
    auto run = run_json({}, {}, 1);
    EXPECT_EQ(run.value("status", ""), "failed") << run.dump(2);
    EXPECT_NE(run.value("error", "").find("symlink"), std::string::npos) << path << ": " << run.dump(2);
    expect_canary_untouched();
  }
  // And the same export where nothing is in the way lands below export_dir.
  commit({{".gantry.yml", export_pipeline("ok/app.tar")}});
  auto run = run_json();
  EXPECT_EQ(run.value("status", ""), "passed") << run.dump(2);
  EXPECT_TRUE(fs::is_regular_file(exports + "/ok/app.tar"));
}

}  // namespace
}  // namespace gantry::testing
