// Several gantry processes share one store. (A process killed at every
// durable write of an import: crash_points_test.cpp.)
#include <nlohmann/json.hpp>

#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

using gantry::testing::run_gantry;
using gantry::testing::run_shell;
using gantry::testing::ScratchDir;

TEST(Concurrency, FourProcessesImportAndTagIntoOneStore) {
  ScratchDir dir;
  for (int p = 0; p < 4; ++p) {
    testing::write_tar(dir / ("own" + std::to_string(p) + ".tar"),
                       {{"own", 'd', "", 0755}, {"own/file", 'f', std::string(300000, static_cast<char>('a' + p))}});
  }
  testing::write_tar(dir / "shared.tar", {{"shared", 'f', std::string(500000, 's')}});
  std::string script = "set -u; G=" + gantry::testing::gantry_binary() + "; S=" + dir / "s" + "; D=" + dir.path() + "\n"
      "worker() { p=$1; for i in 1 2 3 4; do\n"
      "  $G --store $S image import $D/own$p.tar own$p:$i || return 1\n"
      "  $G --store $S image import $D/shared.tar shared:p$p-$i || return 1\n"
      "  $G --store $S image tag own$p:$i all:p$p-$i || return 1\n"
      "  $G --store $S image export shared:p$p-$i $D/out$p || return 1\n"
      "  $G --store $S image import $D/out$p:p$p-$i copy$p:$i || return 1\n"
      "done; }\n"
      "worker 0 & a=$!; worker 1 & b=$!; worker 2 & c=$!; worker 3 & d=$!\n"
      "rc=0; for pid in $a $b $c $d; do wait $pid || rc=1; done; exit $rc\n";
  auto r = run_shell(script);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto f = run_gantry(dir / "s", {"fsck"});
  EXPECT_EQ(f.exit_code, 0) << f.out << f.err;
  auto ls = nlohmann::json::parse(run_gantry(dir / "s", {"image", "ls", "--json"}).out);
  EXPECT_EQ(ls.size(), 4u * 4u * 4u);
  // Every shared import gave the same digest.
  auto a = nlohmann::json::parse(run_gantry(dir / "s", {"image", "inspect", "shared:p0-1"}).out)["digest"];
  auto b = nlohmann::json::parse(run_gantry(dir / "s", {"image", "inspect", "shared:p3-4"}).out)["digest"];
  EXPECT_EQ(a, b);
}

TEST(Concurrency, GcWaitsForWritersAndKeepsWhatTheyTag) {
  ScratchDir dir;
  testing::write_tar(dir / "x.tar", {{"x", 'f', std::string(100000, 'x')}});
  std::string script = "G=" + gantry::testing::gantry_binary() + "; S=" + dir / "s" + "\n"
      "for i in 1 2 3 4 5 6; do $G --store $S image import " + dir / "x.tar" + " x:$i || exit 1; done & w=$!\n"
      "for i in 1 2 3; do $G --store $S gc >/dev/null || exit 1; done & g=$!\n"
      "wait $w || exit 1; wait $g || exit 1\n";
  auto r = run_shell(script);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(run_gantry(dir / "s", {"fsck"}).exit_code, 0);
  for (int i = 1; i <= 6; ++i) EXPECT_EQ(run_gantry(dir / "s", {"image", "inspect", "x:" + std::to_string(i)}).exit_code, 0);
}

}  // namespace
}  // namespace gantry::cache
