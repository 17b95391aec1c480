// A gantry process SIGKILLed at any moment leaves the store consistent (fsck
// clean) and the next command working; several processes share one store.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "tests/cache/cache_test_util.h"

extern char** environ;

namespace gantry::cache {
namespace {

using gantry::testing::run_gantry;
using gantry::testing::run_shell;
using gantry::testing::ScratchDir;

pid_t spawn_gantry(const std::string& store, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {gantry::testing::gantry_binary(), "--store", store};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// ~64 MB of mixed files: compressible text, incompressible data, many small files.
void make_big_rootfs(const std::string& dir) {
  std::string script =
      "set -e; mkdir -p " + dir + "/rand " + dir + "/text " + dir + "/small; cd " + dir +
      "; for i in 1 2 3 4 5 6; do head -c 5M /dev/urandom > rand/f$i; done"
      "; for i in 1 2 3; do seq 1 1200000 > text/seq$i; done"
      "; for i in $(seq 1 400); do echo small-$i > small/s$i; done";
  auto r = run_shell(script);
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

double seconds_of(const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(CrashSafety, SigkillDuringLargeImportsLeavesStoreFsckClean) {
  ScratchDir dir;
  make_big_rootfs(dir / "big");
  ASSERT_EQ(run_shell("tar -C " + dir / "big" + " -cf " + dir / "big.tar .").exit_code, 0);
  // An OCI layout of the same content, for the import path that unpacks layers.
  ASSERT_EQ(run_gantry(dir / "ref", {"image", "import", dir / "big.tar", "big"}).exit_code, 0);
  ASSERT_EQ(run_gantry(dir / "ref", {"image", "export", "big", dir / "layout"}).exit_code, 0);

  std::string store = dir / "s";
  double full = seconds_of([&] { ASSERT_EQ(run_gantry(store, {"image", "import", dir / "big.tar", "warm"}).exit_code, 0); });
  ASSERT_EQ(run_gantry(store, {"image", "rm", "warm"}).exit_code, 0);
  ASSERT_EQ(run_gantry(store, {"gc"}).exit_code, 0);

  // Kill at a random moment within how long that kind of import takes now:
  // later imports find blobs earlier ones left and run faster, so the window
  // follows the last import of the same kind that ran to its end.
  std::mt19937 rng(12345);
  double window[2] = {full, full};
  int killed = 0;
  for (int i = 0; i < 22; ++i) {
    int kind = i % 2;
    std::vector<std::string> args = kind == 0
        ? std::vector<std::string>{"image", "import", dir / "big.tar", "big:" + std::to_string(i)}
        : std::vector<std::string>{"image", "import", dir / "layout", "big:" + std::to_string(i)};
    auto t0 = std::chrono::steady_clock::now();
    pid_t pid = spawn_gantry(store, args);
    std::this_thread::sleep_for(
        std::chrono::duration<double>(std::uniform_real_distribution<double>(0.0, window[kind] * 0.9)(rng)));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);  // an unreaped child can always be signalled
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      ++killed;
    } else {  // it finished before the kill: the next window is its real length
      window[kind] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    if (i % 3 == 2) {
      // Check now and then, not only at the end. --deep compares every
      // unpacked layer with its blob: a layer a killed layout import left
      // behind must never be partial.
      auto f = run_gantry(store, {"fsck", "--deep"});
      ASSERT_EQ(f.exit_code, 0) << "after kill " << i << ":\n" << f.out << f.err;
    }
  }
  EXPECT_GE(killed, 11) << "most kills must land while the import runs, or the test proves little";
  auto f = run_gantry(store, {"fsck"});
  EXPECT_EQ(f.exit_code, 0) << f.out << f.err;
  auto r = run_gantry(store, {"image", "import", dir / "layout", "after:1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_gantry(store, {"image", "import", dir / "big.tar", "after:2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  f = run_gantry(store, {"fsck"});
  EXPECT_EQ(f.exit_code, 0) << f.out << f.err;
  // Every scratch dir of the killed processes has been swept.
  auto left = run_shell("ls -A " + store + "/tmp | wc -l");
  EXPECT_EQ(left.out, "0\n") << run_shell("ls -la " + store + "/tmp").out;
  // gc reclaims what the killed imports wrote but never tagged.
  EXPECT_EQ(run_gantry(store, {"gc"}).exit_code, 0);
  EXPECT_EQ(run_gantry(store, {"fsck"}).exit_code, 0);
  EXPECT_EQ(run_gantry(store, {"image", "inspect", "after:1"}).exit_code, 0);
}

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
