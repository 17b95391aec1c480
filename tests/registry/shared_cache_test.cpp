// The shared step cache and `from:` a registry image: one runner builds and
// exports its step cache to the loopback registry; a second runner with an
// empty store pulls the base, imports the cache and builds with every step a
// cache hit, ending at the same image digest.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/registry/local_registry.h"
#include "tests/registry/test_images.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

using nlohmann::json;

class SharedCache : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(registry_.error(), "");
    base_ = registry_.host() + "/team/base:1";
    make_test_image(dir_ / "seed", "base:1", 1024, 41);
    ASSERT_EQ(run_gantry(dir_ / "seed", {"image", "push", "base:1", base_}).exit_code, 0);
    repo_ = dir_ / "repo";
    write_file(repo_ + "/.gantry.yml", "images:\n  app:\n    from: " + base_ +
                                           "\n    steps:\n"
                                           "      - copy: src/ /app/src/\n"
                                           "      - run: cat /app/src/a.txt /app/src/a.txt > /app/out.txt\n"
                                           "      - env: {GREETING: hi}\n");
    write_file(repo_ + "/src/a.txt", "shared cache\n");
    auto git = run_shell("set -e; cd " + repo_ +
                         "; git init -q; git add -A; git -c user.name=t -c user.email=t@t commit -q -m one");
    ASSERT_EQ(git.exit_code, 0) << git.err;
  }
  json build(const std::string& store, const std::vector<std::string>& extra) {
    std::vector<std::string> args{"build", repo_, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run_gantry(store, args);
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
    return r.exit_code == 0 ? json::parse(r.out) : json::object();
  }
  static std::vector<bool> cached(const json& result) {
    std::vector<bool> out;
    for (const auto& s : result["images"][0]["steps"]) out.push_back(s["cached"]);
    return out;
  }
  LocalRegistry registry_;
  ScratchDir dir_;
  std::string base_;
  std::string repo_;
};

TEST_F(SharedCache, SecondRunnerBuildsFromTheRegistryCache) {
  GANTRY_REQUIRE_ROOT();
  std::string cache_repo = registry_.host() + "/cache/app";
  ASSERT_EQ(run_gantry(dir_ / "a", {"image", "pull", base_}).exit_code, 0);
  json first = build(dir_ / "a", {"--cache-to", cache_repo});
  ASSERT_TRUE(first.contains("images"));
  EXPECT_EQ(cached(first), (std::vector<bool>{false, false, false}));

  // Runner b: an empty store.
  ASSERT_EQ(run_gantry(dir_ / "b", {"image", "pull", base_}).exit_code, 0);
  json second = build(dir_ / "b", {"--cache-from", cache_repo});
  ASSERT_TRUE(second.contains("images"));
  EXPECT_EQ(cached(second), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(second["images"][0]["digest"], first["images"][0]["digest"]);
  auto fsck = run_gantry(dir_ / "b", {"fsck"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
}

// Issue 11.1: the time in a layer is the build's epoch (in the key), never
// the commit's: a store that pulled another's cache of commit A builds commit
// B (a change no step copies, a day later) to the digest a fresh store gets.
TEST_F(SharedCache, SameDigestAcrossHistories) {
  GANTRY_REQUIRE_ROOT();
  write_file(repo_ + "/README", "not copied by any step\n");
  auto git = run_shell("cd " + repo_ + " && git add -A && GIT_COMMITTER_DATE=\"@$(( $(date +%s) + 86400 )) +0000\" "
                       "git -c user.name=t -c user.email=t@t commit -qm two");
  ASSERT_EQ(git.exit_code, 0) << git.err;
  std::string cache_repo = registry_.host() + "/cache/app";
  for (const char* store : {"a", "b", "c"})
    ASSERT_EQ(run_gantry(dir_ / store, {"image", "pull", base_}).exit_code, 0);
  // a builds commit one and publishes its cache; b pulls it and builds two.
  json a = build(dir_ / "a", {"--rev", "HEAD~1", "--cache-to", cache_repo});
  ASSERT_EQ(run_gantry(dir_ / "b", {"cache", "pull", cache_repo}).exit_code, 0);
  json b = build(dir_ / "b", {"--rev", "HEAD"});
  EXPECT_EQ(cached(b), (std::vector<bool>{true, true, true}));
  // c builds only two, from nothing.
  json c = build(dir_ / "c", {"--rev", "HEAD"});
  EXPECT_EQ(cached(c), (std::vector<bool>{false, false, false}));
  EXPECT_EQ(b["images"][0]["digest"], c["images"][0]["digest"]);
  EXPECT_EQ(a["images"][0]["digest"], c["images"][0]["digest"]);
}

TEST_F(SharedCache, ExportsAreContentAddressedAndImportsAddOnlyNewEntries) {
  GANTRY_REQUIRE_ROOT();
  std::string cache_repo = registry_.host() + "/cache/app";
  ASSERT_EQ(run_gantry(dir_ / "a", {"image", "pull", base_}).exit_code, 0);
  build(dir_ / "a", {});
  auto push = run_gantry(dir_ / "a", {"cache", "push", cache_repo, "--json"});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  json exported = json::parse(push.out);
  EXPECT_EQ(exported["entries"], 3);
  EXPECT_EQ(exported["layers"], 2);
  // The same cache again: same tag, nothing uploaded.
  json again = json::parse(run_gantry(dir_ / "a", {"cache", "push", cache_repo, "--json"}).out);
  EXPECT_EQ(again["reference"], exported["reference"]);
  EXPECT_EQ(again["counts"]["blobs_uploaded"], 0);

  auto pull = run_gantry(dir_ / "b", {"cache", "pull", cache_repo, "--json"});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  json imported = json::parse(pull.out);
  EXPECT_EQ(imported["artifacts"], 1);
  EXPECT_EQ(imported["entries_added"], 3);
  EXPECT_EQ(imported["entries_deferred"], 2) << "the two entries with a layer wait until a build hits them";
  EXPECT_EQ(imported["layers_fetched"], 0);
  json twice = json::parse(run_gantry(dir_ / "b", {"cache", "pull", cache_repo, "--json"}).out);
  EXPECT_EQ(twice["entries_added"], 0);
  EXPECT_EQ(twice["entries_known"], 3);
  EXPECT_EQ(twice["layers_fetched"], 0);

  // A bad repository name is a usage error naming it.
  auto bad = run_gantry(dir_ / "b", {"cache", "pull", cache_repo + ":tag"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find(cache_repo + ":tag"), std::string::npos) << bad.err;
}

// `cache pull` fetches only the layers a build actually hits: a commit that
// changes the run step hits the copy step (its layer is fetched then) and
// never downloads the run step's layer.
TEST_F(SharedCache, PullIsLazyABuildFetchesOnlyTheLayersItHits) {
  GANTRY_REQUIRE_ROOT();
  std::string cache_repo = registry_.host() + "/cache/app";
  ASSERT_EQ(run_gantry(dir_ / "a", {"image", "pull", base_}).exit_code, 0);
  json first = build(dir_ / "a", {"--cache-to", cache_repo});
  ASSERT_TRUE(first.contains("images"));
  json image = json::parse(run_gantry(dir_ / "a", {"image", "inspect", first["images"][0]["digest"]}).out);
  ASSERT_GE(image["layers"].size(), 3u);  // the base's, then copy, then run
  const json copy_layer = image["layers"][image["layers"].size() - 2];
  const json run_layer = image["layers"][image["layers"].size() - 1];
  auto blob_in_b = [&](const json& layer) {
    return run_shell("test -f " + dir_ / "b/blobs/sha256/" + layer["digest"].get<std::string>().substr(7)).exit_code == 0;
  };

  ASSERT_EQ(run_gantry(dir_ / "b", {"image", "pull", base_}).exit_code, 0);
  json pulled = json::parse(run_gantry(dir_ / "b", {"cache", "pull", cache_repo, "--json"}).out);
  EXPECT_EQ(pulled["entries_deferred"], 2);
  EXPECT_EQ(pulled["layers_fetched"], 0);
  EXPECT_FALSE(blob_in_b(copy_layer));
  EXPECT_FALSE(blob_in_b(run_layer));

  // Commit two changes the run step: the copy step hits, the run step misses.
  write_file(repo_ + "/.gantry.yml", "images:\n  app:\n    from: " + base_ +
                                         "\n    steps:\n"
                                         "      - copy: src/ /app/src/\n"
                                         "      - run: cat /app/src/a.txt > /app/out.txt\n"
                                         "      - env: {GREETING: hi}\n");
  auto git = run_shell("cd " + repo_ + " && git -c user.name=t -c user.email=t@t commit -qam two");
  ASSERT_EQ(git.exit_code, 0) << git.err;
  json second = build(dir_ / "b", {});
  EXPECT_EQ(cached(second), (std::vector<bool>{true, false, false}));
  EXPECT_TRUE(blob_in_b(copy_layer)) << "the hit fetched its layer";
  EXPECT_FALSE(blob_in_b(run_layer)) << "the run step missed: its layer was never downloaded";
  auto fsck = run_gantry(dir_ / "b", {"fsck"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;

  // Commit one again: every step hits now, the last layer comes on demand.
  ASSERT_EQ(run_shell("cd " + repo_ + " && git -c user.name=t -c user.email=t@t revert --no-edit HEAD >/dev/null").exit_code, 0);
  json third = build(dir_ / "b", {});
  EXPECT_EQ(cached(third), (std::vector<bool>{true, true, true}));
  EXPECT_TRUE(blob_in_b(run_layer));
  EXPECT_EQ(third["images"][0]["digest"], first["images"][0]["digest"]);
  fsck = run_gantry(dir_ / "b", {"fsck"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
}

TEST_F(SharedCache, TwoRunnersExportingAtOnceKeepBothCaches) {
  GANTRY_REQUIRE_ROOT();
  std::string cache_repo = registry_.host() + "/cache/app";
  ASSERT_EQ(run_gantry(dir_ / "a", {"image", "pull", base_}).exit_code, 0);
  ASSERT_EQ(run_gantry(dir_ / "b", {"image", "pull", base_}).exit_code, 0);
  json a = build(dir_ / "a", {});
  write_file(repo_ + "/src/a.txt", "another commit\n");
  auto git = run_shell("cd " + repo_ + " && git -c user.name=t -c user.email=t@t commit -qam two");
  ASSERT_EQ(git.exit_code, 0) << git.err;
  json b = build(dir_ / "b", {});
  ASSERT_NE(a["images"][0]["digest"], b["images"][0]["digest"]);

  auto both = run_shell(gantry_binary() + " --store " + dir_ / "a" + " cache push -q " + cache_repo + " & " +
                        gantry_binary() + " --store " + dir_ / "b" + " cache push -q " + cache_repo +
                        " & wait %1 && wait %2");
  ASSERT_EQ(both.exit_code, 0) << both.err;
  auto pull = run_gantry(dir_ / "c", {"cache", "pull", cache_repo, "--json"});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  json imported = json::parse(pull.out);
  EXPECT_EQ(imported["artifacts"], 2);
  EXPECT_EQ(imported["entries_added"], 6);  // three steps of each commit: the keys chain, none shared
  // Runner c builds either commit from the shared cache alone.
  ASSERT_EQ(run_gantry(dir_ / "c", {"image", "pull", base_}).exit_code, 0);
  json c = build(dir_ / "c", {});
  EXPECT_EQ(cached(c), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(c["images"][0]["digest"], b["images"][0]["digest"]);
}

}  // namespace
}  // namespace gantry::testing
