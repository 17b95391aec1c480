// `gantry build` and its step cache, end to end: real git repositories with
// several commits, real containers, the busybox image in a per-test store.
// Assertions are on the counters and the per-step "cached" flags of --json.
#include "tests/runner/build_fixture.h"

namespace gantry::testing {
namespace {

using Flags = std::vector<bool>;

constexpr const char* kPipeline = R"(images:
  app:
    from: busybox
    env: {APP_HOME: /app}
    workdir: /app
    steps:
      - run: mkdir -p /app/out && echo base > /app/out/base.txt
      - copy: a.txt /app/a.txt
      - copy: src/ /app/src/
      - run: cat /app/a.txt /app/src/b.txt > /app/out/all.txt
        env: {MODE: dev}
      - env: {BUILT: "yes"}
      - run: echo "$BUILT $MODE" > /app/out/env.txt
)";

class BuildCacheTest : public BuildFixture {
 protected:
  void SetUp() override {
    BuildFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    commit({{".gantry.yml", kPipeline}, {"a.txt", "a1\n"}, {"src/b.txt", "b1\n"}, {"README", "hello\n"}}, "first");
  }
};

TEST_F(BuildCacheTest, SecondBuildOfSameCommit_StartsNoContainer) {
  auto first = build_json();
  EXPECT_EQ(cached_flags(first, "app"), Flags(6, false));
  EXPECT_EQ(counter(first, "containers_started"), 3u);
  EXPECT_EQ(counter(first, "layers_written"), 5u);  // 3 runs + 2 copies; env is config only
  EXPECT_EQ(counter(first, "cache_misses"), 6u);

  auto second = build_json();
  EXPECT_EQ(cached_flags(second, "app"), Flags(6, true));
  EXPECT_EQ(counter(second, "containers_started"), 0u);
  EXPECT_EQ(counter(second, "layers_written"), 0u);
  EXPECT_EQ(counter(second, "cache_hits"), 6u);
  EXPECT_EQ(image_of(second, "app")["digest"], image_of(first, "app")["digest"]);
}

TEST_F(BuildCacheTest, BuiltImage_IsTaggedWithCommitAndLatest) {
  auto result = build_json();
  const std::string short_id = git({"rev-parse", "--short=12", "HEAD"});
  auto tags = image_of(result, "app")["tags"];
  EXPECT_EQ(tags, nlohmann::json({"app:" + short_id, "app:latest"}));
  const auto& step = image_of(result, "app")["steps"][0];
  EXPECT_EQ(step["kind"], "run");
  EXPECT_TRUE(step["key"].get<std::string>().starts_with("sha256:"));
  EXPECT_TRUE(step["seconds"].is_number());
  // The image runs: the steps' results are in it.
  auto out = run_gantry(store_, {"exec", "app:" + short_id, "--", "cat", "/app/out/all.txt", "/app/out/env.txt"});
  ASSERT_EQ(out.exit_code, 0) << out.out << out.err;
  EXPECT_EQ(out.out, "a1\nb1\nyes \n");  // MODE was step #4's own env
}

TEST_F(BuildCacheTest, ChangingOneCopiedFile_RerunsThatCopyAndEveryStepAfter) {
  build_json();
  commit({{"src/b.txt", "b2\n"}});
  auto result = build_json();
  EXPECT_EQ(cached_flags(result, "app"), (Flags{true, true, false, false, false, false}));
  EXPECT_EQ(counter(result, "containers_started"), 2u);
}

TEST_F(BuildCacheTest, CommitTouchingOnlyUncopiedFiles_ReusesTheWholeImage) {
  auto first = build_json();
  commit({{"README", "changed\n"}, {"docs/notes.txt", "new\n"}});
  auto second = build_json();
  EXPECT_EQ(cached_flags(second, "app"), Flags(6, true));
  EXPECT_EQ(counter(second, "containers_started"), 0u);
  EXPECT_EQ(image_of(second, "app")["digest"], image_of(first, "app")["digest"]);
}

TEST_F(BuildCacheTest, ChangingAStepsEnv_InvalidatesFromThatStepOn) {
  build_json();
  std::string changed = kPipeline;
  changed.replace(changed.find("MODE: dev"), 9, "MODE: prod");
  commit({{".gantry.yml", changed}});
  auto result = build_json({"--explain"});
  EXPECT_EQ(cached_flags(result, "app"), (Flags{true, true, true, false, false, false}));
  const std::string explain = image_of(result, "app").value("explain", "");
  EXPECT_NE(explain.find("step #4"), std::string::npos) << explain;
  EXPECT_NE(explain.find("env"), std::string::npos) << explain;
  EXPECT_NE(explain.find("MODE"), std::string::npos) << explain;
}

TEST_F(BuildCacheTest, Explain_NamesTheChangedSourceFile) {
  build_json();
  commit({{"a.txt", "a2\n"}});
  auto r = build({"--explain"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("step #2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sources"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("a.txt"), std::string::npos) << r.out;
}

TEST_F(BuildCacheTest, TwoNoCacheBuilds_GiveTheSameDigest) {
  auto first = build_json({"--no-cache"});
  auto second = build_json({"--no-cache"});
  EXPECT_EQ(cached_flags(second, "app"), Flags(6, false));
  EXPECT_EQ(counter(second, "containers_started"), 3u);
  EXPECT_EQ(image_of(second, "app")["digest"], image_of(first, "app")["digest"]);
  auto check = build({"--check-reproducible"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST_F(BuildCacheTest, CheckReproducible_ReportsALayerThatDiffers) {
  commit({{".gantry.yml", "images:\n  app:\n    from: busybox\n    steps:\n"
                          "      - run: head -c 16 /dev/urandom > /random\n"}});
  auto r = build({"--check-reproducible"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("step #1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/dev/urandom"), std::string::npos) << r.err;
}

TEST_F(BuildCacheTest, UncommittedWorkTreeChanges_AreIgnored) {
  auto first = build_json();
  write_file(repo_ + "/src/b.txt", "uncommitted\n");
  write_file(repo_ + "/.gantry.yml", "images: {broken");
  auto second = build_json();
  EXPECT_EQ(cached_flags(second, "app"), Flags(6, true));
  EXPECT_EQ(image_of(second, "app")["digest"], image_of(first, "app")["digest"]);
}

TEST_F(BuildCacheTest, OlderRevision_IsBuiltFromItsOwnTree) {
  auto first = build_json();
  const std::string first_commit = git({"rev-parse", "HEAD"});
  commit({{"a.txt", "a2\n"}});
  build_json();
  auto again = build_json({"--rev", first_commit});
  EXPECT_EQ(cached_flags(again, "app"), Flags(6, true));
  EXPECT_EQ(image_of(again, "app")["digest"], image_of(first, "app")["digest"]);
}

TEST_F(BuildCacheTest, ImagesSharingSteps_ShareLayers) {
  commit({{".gantry.yml", R"(images:
  base:
    from: busybox
    steps:
      - copy: a.txt /a.txt
  one:
    from: base
    steps:
      - run: echo one > /one
  two:
    from: busybox
    steps:
      - copy: a.txt /a.txt
      - run: echo two > /two
)"}});
  auto result = build_json();
  // base and two build in parallel; their first steps share a key, so
  // whichever gets there first writes the layer and the other hits it.
  const bool base_cached = image_of(result, "base")["steps"][0]["cached"].get<bool>();
  const bool two_first_cached = image_of(result, "two")["steps"][0]["cached"].get<bool>();
  EXPECT_NE(base_cached, two_first_cached);
  EXPECT_EQ(image_of(result, "two")["steps"][1]["cached"].get<bool>(), false);
  // two's first step has the same key as base's: built once, shared.
  auto base_key = image_of(result, "base")["steps"][0]["key"];
  EXPECT_EQ(image_of(result, "two")["steps"][0]["key"], base_key);
  EXPECT_EQ(counter(result, "layers_written"), 3u);  // a.txt once, /one, /two
  EXPECT_EQ(counter(result, "containers_started"), 2u);
}

TEST_F(BuildCacheTest, ScratchImageOfCopies_StartsNoContainer) {
  commit({{".gantry.yml", "images:\n  files:\n    from: scratch\n    steps:\n"
                          "      - copy: src/ /srv/\n      - copy: a.txt /srv/a.txt\n        chmod: 0600\n"}});
  auto result = build_json();
  EXPECT_EQ(cached_flags(result, "files"), (Flags{false, false}));
  EXPECT_EQ(counter(result, "containers_started"), 0u);
  EXPECT_EQ(counter(result, "layers_written"), 2u);
}

TEST_F(BuildCacheTest, NamingOneImage_BuildsItAndWhatItIsFrom) {
  commit({{".gantry.yml", "images:\n  base:\n    from: busybox\n    steps:\n      - copy: a.txt /a.txt\n"
                          "  app:\n    from: base\n    steps:\n      - copy: src/ /src/\n"
                          "  other:\n    from: busybox\n    steps:\n      - copy: README /README\n"}});
  auto result = build_json({"app"});
  ASSERT_TRUE(result.contains("images"));
  std::vector<std::string> names;
  for (const auto& i : result["images"]) names.push_back(i["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"base", "app"}));
}

}  // namespace
}  // namespace gantry::testing

namespace gantry::testing {
namespace {

TEST_F(BuildCacheTest, CopyWithGlobChmodChown_LandsLikeDockerCopy) {
  commit({{".gantry.yml", R"(images:
  files:
    from: busybox
    steps:
      - copy: src/ /srv/tree/
      - copy: ["*.txt", /srv/flat/]
        chmod: "0600"
        chown: "1000:1000"
)"},
          {"src/deep/c.txt", "c\n"}});
  auto result = build_json();
  EXPECT_EQ(counter(result, "containers_started"), 0u);
  const std::string ref = "files:" + git({"rev-parse", "--short=12", "HEAD"});
  EXPECT_EQ(image_of(result, "files")["tags"][0], ref) << result.dump();
  auto ls = run_gantry(store_, {"exec", ref, "--", "sh", "-c",
                                "cd /srv && find . -type f | sort && stat -c '%a %u:%g %n' flat/a.txt"});
  ASSERT_EQ(ls.exit_code, 0) << ls.out << ls.err;
  EXPECT_EQ(ls.out, "./flat/a.txt\n./tree/b.txt\n./tree/deep/c.txt\n600 1000:1000 flat/a.txt\n");
}

}  // namespace
}  // namespace gantry::testing
