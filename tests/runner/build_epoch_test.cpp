// Issue 11.1: a layer's bytes and an image config depend on the step key
// alone. The time in them is the build's epoch (pipeline `epoch:`, else
// $SOURCE_DATE_EPOCH, else 0), which is in every key; never the commit time,
// so two stores with different histories give a commit the same digests.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/runner/build_fixture.h"

namespace gantry::testing {
namespace {

// Two images, each with copy and run steps (the run steps write files whose
// mtimes are "now", later than any epoch used here: they are clamped).
const char* kPipeline = R"(images:
  base:
    from: busybox
    steps:
      - copy: src/ /app/src/
      - run: cat /app/src/a.txt > /app/built.txt && mkdir -p /app/gen && echo gen > /app/gen/x
  app:
    from: base
    steps:
      - run: cp /app/built.txt /app/copy.txt
      - copy: tools/ /app/tools/
      - env: {MODE: prod}
)";

class BuildEpoch : public BuildFixture {
 protected:
  // Commits the files with the given author and committer time.
  std::string commit_at(const std::map<std::string, std::string>& files, long long time) {
    for (const auto& [path, content] : files) write_file(repo_ + "/" + path, content);
    git({"add", "-A"});
    const std::string date = "@" + std::to_string(time) + " +0000";
    auto r = run_command({"git", "-C", repo_, "commit", "-q", "-m", "at " + std::to_string(time)},
                         {"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return git({"rev-parse", "HEAD"});
  }
  // image name -> digest of `gantry build REPO --rev REV --json` in `store`.
  std::map<std::string, std::string> build_in(const std::string& store, const std::string& rev,
                                              const std::vector<std::string>& env = {},
                                              nlohmann::json* result = nullptr) {
    auto r = run_command({gantry_binary(), "--store", store, "build", repo_, "--rev", rev, "--json"}, env);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::map<std::string, std::string> out;
    if (r.exit_code != 0) return out;
    auto doc = nlohmann::json::parse(r.out);
    for (const auto& image : doc["images"]) out[image["name"]] = image["digest"];
    if (result) *result = doc;
    return out;
  }
  std::string config_created(const std::string& store, const std::string& digest) {
    auto r = run_gantry(store, {"image", "inspect", digest});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code != 0) return "";
    return nlohmann::json::parse(r.out)["config"].value("created", "");
  }
  // mtime (seconds) of a file in an image, read by `stat` in a container.
  std::string mtime_in(const std::string& store, const std::string& digest, const std::string& path) {
    auto r = run_gantry(store, {"exec", digest, "--", "stat", "-c", "%Y", path});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }
};

TEST_F(BuildEpoch, SameCommitSameDigestWhateverTheStoreBuiltBefore) {
  commit_at({{".gantry.yml", kPipeline}, {"src/a.txt", "alpha\n"}, {"tools/t.sh", "echo t\n"},
             {"README", "first\n"}},
            1000000000);
  const std::string a = git({"rev-parse", "HEAD"});
  // B changes only a file no step copies, at a different commit time.
  const std::string b = commit_at({{"README", "second\n"}}, 1100000000);

  // S1 builds A, then B (B reuses A's layers: every step is a hit).
  auto s1_a = build_in(store_, a);
  nlohmann::json s1_b_result;
  auto s1_b = build_in(store_, b, {}, &s1_b_result);
  ASSERT_EQ(s1_b.size(), 2u);
  EXPECT_EQ(s1_a, s1_b);
  EXPECT_EQ(counter(s1_b_result, "cache_misses"), 0u) << s1_b_result.dump(2);

  // S2 builds only B.
  const std::string s2 = make_store("s2");
  nlohmann::json s2_result;
  auto s2_b = build_in(s2, b, {}, &s2_result);
  EXPECT_GT(counter(s2_result, "cache_misses"), 0u);
  EXPECT_EQ(s2_b, s1_b) << "every image of B must have one digest whatever the store built before";

  // The time in the layers and the config is the default epoch, 0.
  EXPECT_EQ(config_created(s2, s2_b["app"]), "1970-01-01T00:00:00Z");
  EXPECT_EQ(mtime_in(s2, s2_b["app"], "/app/copy.txt"), "0");
  EXPECT_EQ(mtime_in(s2, s2_b["app"], "/app/src/a.txt"), "0");

  // --check-reproducible still passes (two no-cache builds, same layers).
  auto check = run_gantry(s2, {"build", repo_, "--rev", b, "--check-reproducible"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST_F(BuildEpoch, SourceDateEpochIsInTheKeyAndInTheImage) {
  commit_at({{".gantry.yml", kPipeline}, {"src/a.txt", "alpha\n"}, {"tools/t.sh", "echo t\n"}}, 1000000000);
  auto plain = build_in(store_, "HEAD");
  const std::vector<std::string> sde = {"SOURCE_DATE_EPOCH=1700000000"};
  nlohmann::json result;
  auto dated = build_in(store_, "HEAD", sde, &result);
  // Another epoch is another key: nothing is served from the epoch-0 build.
  EXPECT_EQ(counter(result, "cache_hits"), 0u) << result.dump(2);
  EXPECT_NE(dated["app"], plain["app"]);
  EXPECT_NE(dated["base"], plain["base"]);
  EXPECT_EQ(config_created(store_, dated["app"]), "2023-11-14T22:13:20Z");
  EXPECT_EQ(mtime_in(store_, dated["app"], "/app/copy.txt"), "1700000000");
  EXPECT_EQ(mtime_in(store_, dated["app"], "/app/tools/t.sh"), "1700000000");
  // A fresh store with the same epoch agrees.
  EXPECT_EQ(build_in(make_store("s2"), "HEAD", sde), dated);
  // --explain names the epoch as what changed.
  auto explain = run_command({gantry_binary(), "--store", store_, "build", repo_, "--explain"},
                             {"SOURCE_DATE_EPOCH=1600000000"});
  EXPECT_EQ(explain.exit_code, 0) << explain.err;
  EXPECT_NE((explain.out + explain.err).find("epoch"), std::string::npos) << explain.out << explain.err;

  // A bad value is a clear error.
  auto bad = run_command({gantry_binary(), "--store", store_, "build", repo_}, {"SOURCE_DATE_EPOCH=yesterday"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("SOURCE_DATE_EPOCH"), std::string::npos) << bad.err;
}

TEST_F(BuildEpoch, PipelineEpochWinsOverSourceDateEpoch) {
  commit_at({{".gantry.yml", std::string("epoch: 1600000000\n") + kPipeline}, {"src/a.txt", "alpha\n"},
             {"tools/t.sh", "echo t\n"}},
            1000000000);
  auto with_key = build_in(store_, "HEAD", {"SOURCE_DATE_EPOCH=1700000000"});
  EXPECT_EQ(config_created(store_, with_key["app"]), "2020-09-13T12:26:40Z");
  EXPECT_EQ(mtime_in(store_, with_key["app"], "/app/built.txt"), "1600000000");
  // The environment does not matter then: the same keys, the same digests.
  nlohmann::json again;
  EXPECT_EQ(build_in(store_, "HEAD", {}, &again), with_key);
  EXPECT_EQ(counter(again, "cache_misses"), 0u);

  // A negative or non-numeric epoch is refused with file:line:col.
  commit_at({{".gantry.yml", std::string("epoch: soon\n") + kPipeline}}, 1000000001);
  auto bad = build();
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find(".gantry.yml:1:"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("epoch"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace gantry::testing
