// Cache directories end to end: a file kept from one run to the next, two
// concurrent stages on one `locked` cache never interleave, a run step's
// cache never reaches its layer, `gantry cache dirs ls|rm`, gc --caches.
#include <sstream>

#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunCachesTest : public RunFixture {};

TEST_F(RunCachesTest, ACacheDirKeepsAFileFromOneRunToTheNext_ListedWithItsSize_GcLeavesItUnlessAsked) {
  commit({{".gantry.yml",
           "stages:\n"
           "  count:\n"
           "    image: busybox\n"
           "    cache: false\n"
           "    caches: {counter: /var/cache/counter}\n"
           "    run: 'n=$(cat /var/cache/counter/n 2>/dev/null || echo 0); echo \"seen $n\"; echo $((n + 1)) > "
           "/var/cache/counter/n; head -c 5000 /dev/zero > /var/cache/counter/blob'\n"}});
  auto first = run_json();
  ASSERT_EQ(first.value("status", ""), "passed") << first.dump(2);
  auto second = run_json();
  ASSERT_EQ(second.value("status", ""), "passed") << second.dump(2);
  auto logs1 = run_gantry(store_, {"logs", first["id"], "count"});
  auto logs2 = run_gantry(store_, {"logs", second["id"], "count"});
  EXPECT_NE(logs1.out.find("seen 0"), std::string::npos) << logs1.out;
  EXPECT_NE(logs2.out.find("seen 1"), std::string::npos) << logs2.out;
  EXPECT_EQ(read_file_or_die(store_ + "/caches/repo/counter/data/n"), "2\n");

  auto ls = gantry_json({"cache", "dirs", "ls", "--json"});
  ASSERT_EQ(ls.size(), 1u) << ls.dump();
  EXPECT_EQ(ls[0].value("project", ""), "repo");
  EXPECT_EQ(ls[0].value("name", ""), "counter");
  EXPECT_GE(ls[0].value("bytes", 0), 5000);
  EXPECT_FALSE(ls[0].value("in_use", true));

  auto gc = run_gantry(store_, {"gc"});
  EXPECT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_EQ(read_file_or_die(store_ + "/caches/repo/counter/data/n"), "2\n");
  auto gc_caches = run_gantry(store_, {"gc", "--caches", "--json"});
  EXPECT_EQ(gc_caches.exit_code, 0) << gc_caches.err;
  EXPECT_TRUE(gantry_json({"cache", "dirs", "ls", "--json"}).empty());
  auto third = run_json();
  auto logs3 = run_gantry(store_, {"logs", third["id"], "count"});
  EXPECT_NE(logs3.out.find("seen 0"), std::string::npos) << logs3.out;

  auto rm = run_gantry(store_, {"cache", "dirs", "rm", "--project", "repo", "counter"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_TRUE(gantry_json({"cache", "dirs", "ls", "--json"}).empty());
  auto rm_again = run_gantry(store_, {"cache", "dirs", "rm", "--project", "repo", "counter"});
  EXPECT_NE(rm_again.exit_code, 0);
}

TEST_F(RunCachesTest, TwoConcurrentStagesOnOneLockedCache_DoNotInterleave_TheSecondSaysItWaits) {
  std::string writer =
      "    caches: {shared-log: /c}\n"
      "    run: 'for i in 1 2 3 4 5 6 7 8 9 10; do echo \"$GANTRY_STAGE $i\" >> /c/log; sleep 0.2; done'\n";
  commit({{".gantry.yml", "stages:\n  a:\n    image: busybox\n" + writer + "  b:\n    image: busybox\n" + writer}});
  auto run = run_json({"--jobs", "2"});
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  std::istringstream log(read_file_or_die(store_ + "/caches/repo/shared-log/data/log"));
  std::vector<std::string> lines;
  for (std::string l; std::getline(log, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 20u);
  // Ten lines of one stage, then ten of the other.
  std::string first = lines[0].substr(0, 1);
  for (std::size_t i = 0; i < 20; ++i)
    EXPECT_EQ(lines[i].substr(0, 1), i < 10 ? first : (first == "a" ? "b" : "a")) << i;
  std::string second = first == "a" ? "b" : "a";
  auto waited = run_gantry(store_, {"logs", run["id"], second});
  EXPECT_NE(waited.out.find("waiting for cache shared-log"), std::string::npos) << waited.out;
}

TEST_F(RunCachesTest, ARunStepsCacheIsNeverInItsLayer_NorInItsKey) {
  commit({{".gantry.yml",
           "images:\n"
           "  app:\n"
           "    from: busybox\n"
           "    steps:\n"
           "      - run: 'echo built > /built; date +%s%N > /cache/stamp; ls /cache > /seen'\n"
           "        caches: {build: /cache}\n"
           "stages:\n"
           "  check:\n"
           "    image: app\n"
           "    run: 'cat /built && test -d /cache && test -z \"$(ls -A /cache)\"'\n"}});
  auto run = run_json();
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  std::string stamp = read_file_or_die(store_ + "/caches/repo/build/data/stamp");
  EXPECT_FALSE(stamp.empty());
  // What the step left in the cache changes nothing: the next build is cached.
  auto again = build_json();
  for (bool cached : cached_flags(again, "app")) EXPECT_TRUE(cached);
}

}  // namespace
}  // namespace gantry::testing
