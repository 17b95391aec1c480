// Exit codes, signals, start failures (125/126/127) and the process setup
// (env, workdir, user, bind mounts, output streaming).
#include <sys/stat.h>

#include "common/file_util.h"
#include "tests/executor/executor_fixture.h"

namespace gantry::testing {
namespace {

using executor::start_failure_exit_code;

TEST_F(ExecutorTest, ExitCodeIsTheCommands) {
  for (int code : {0, 1, 3, 42, 255}) {
    auto ran = run(sh("exit " + std::to_string(code)));
    ASSERT_RAN(ran);
    EXPECT_EQ(ran.result->exit_code, code);
    EXPECT_EQ(ran.result->signal, 0);
  }
}

TEST_F(ExecutorTest, SignalsAreReportedAs128PlusN) {
  auto ran = run(sh("kill -TERM $$; sleep 5"));
  ASSERT_RAN(ran);
  EXPECT_EQ(ran.result->signal, SIGTERM);
  EXPECT_EQ(ran.result->exit_code, 128 + SIGTERM);
  auto killed = run(sh("kill -KILL $$"));
  ASSERT_RAN(killed);
  EXPECT_EQ(killed.result->exit_code, 137);
  EXPECT_FALSE(killed.result->timed_out);
  EXPECT_FALSE(killed.result->oom_killed);
}

TEST_F(ExecutorTest, CommandNotFoundIs127) {
  auto ran = run(spec({"no-such-command", "x"}));
  ASSERT_FALSE(ran.result.has_value());
  EXPECT_EQ(start_failure_exit_code(ran.result.error()), 127);
  EXPECT_NE(ran.result.error().message().find("no-such-command"), std::string::npos);
  auto abs = run(spec({"/bin/nope"}));
  ASSERT_FALSE(abs.result.has_value());
  EXPECT_EQ(start_failure_exit_code(abs.result.error()), 127);
  EXPECT_TRUE(work_root_entries().empty());
}

TEST_F(ExecutorTest, NonExecutableIs126) {
  auto ran = run(spec({"/etc/passwd"}));
  ASSERT_FALSE(ran.result.has_value());
  EXPECT_EQ(start_failure_exit_code(ran.result.error()), 126) << ran.result.error().message();
  auto dir = run(spec({"/tmp"}));
  ASSERT_FALSE(dir.result.has_value());
  EXPECT_EQ(start_failure_exit_code(dir.result.error()), 126);
  EXPECT_TRUE(work_root_entries().empty());
}

TEST_F(ExecutorTest, BadInputIs125AndLeavesNothing) {
  auto missing_layer = spec({"true"});
  missing_layer.lowerdirs.push_back(scratch_ / "no-such-layer");
  auto a = run(missing_layer);
  ASSERT_FALSE(a.result.has_value());
  EXPECT_EQ(start_failure_exit_code(a.result.error()), 125);
  EXPECT_NE(a.result.error().message().find("no-such-layer"), std::string::npos);

  auto bad_user = spec({"true"});
  bad_user.user = "nosuchuser";
  auto b = run(bad_user);
  ASSERT_FALSE(b.result.has_value());
  EXPECT_EQ(start_failure_exit_code(b.result.error()), 125);
  EXPECT_NE(b.result.error().message().find("nosuchuser"), std::string::npos) << b.result.error().message();

  auto bad_mount = spec({"true"});
  bad_mount.mounts.push_back({scratch_ / "absent", "/data", true});
  auto c = run(bad_mount);
  ASSERT_FALSE(c.result.has_value());
  EXPECT_EQ(start_failure_exit_code(c.result.error()), 125);
  EXPECT_NE(c.result.error().message().find("absent"), std::string::npos);

  auto bad_limit = spec({"true"});
  bad_limit.limits.memory_bytes = 1000;
  auto d = run(bad_limit);
  ASSERT_FALSE(d.result.has_value());
  EXPECT_EQ(start_failure_exit_code(d.result.error()), 125);

  EXPECT_TRUE(work_root_entries().empty());
}

TEST_F(ExecutorTest, EnvWorkdirAndUserApply) {
  auto s = sh("echo $GREETING; pwd; id -u; id -g; echo $HOME; echo $PATH");
  s.env = {"GREETING=hello world"};
  s.workdir = "/work/dir";
  s.user = "65534:65534";
  auto ran = run(s);
  ASSERT_RAN(ran);
  ASSERT_EQ(ran.out_lines.size(), 6u) << ran.out << ran.err;
  EXPECT_EQ(ran.out_lines[0], "hello world");
  EXPECT_EQ(ran.out_lines[1], "/work/dir");
  EXPECT_EQ(ran.out_lines[2], "65534");
  EXPECT_EQ(ran.out_lines[3], "65534");
  EXPECT_EQ(ran.out_lines[4], "/nonexistent");
  EXPECT_NE(ran.out_lines[5].find("/bin"), std::string::npos);

  auto named = sh("id -u; grep CapEff /proc/self/status");
  named.user = "nobody";
  auto n = run(named);
  ASSERT_RAN(n);
  EXPECT_EQ(n.out, "65534\nCapEff:\t0000000000000000\n");
}

TEST_F(ExecutorTest, BindMountsAreReadOnlyOrWritable) {
  write_file(scratch_ / "in/data.txt", "from host\n");
  ::mkdir((scratch_ / "out").c_str(), 0755);
  auto s = sh("cat /input/data.txt; echo x > /input/new 2>/dev/null && echo ro-broken; echo result > /output/r.txt");
  s.mounts = {{scratch_ / "in", "/input", true}, {scratch_ / "out", "/output", false}};
  auto ran = run(s);
  ASSERT_RAN(ran);
  EXPECT_EQ(ran.out, "from host\n") << ran.err;
  EXPECT_EQ(read_file_or_die(scratch_ / "out/r.txt"), "result\n");
  EXPECT_NE(::access((scratch_ / "in/new").c_str(), F_OK), 0);
}

// The runner keeps workspaces next to its containers (both in the store's
// scratch dir): a container's in-memory scratch must not hide them.
TEST_F(ExecutorTest, BindMountSourceInsideWorkRootStaysVisible) {
  write_file(work_root() + "/workspace-1/ws/file.txt", "in the work root\n");
  auto s = sh("cat /workspace/file.txt");
  s.mounts = {{work_root() + "/workspace-1/ws", "/workspace", true}};
  auto ran = run(s);
  ASSERT_RAN(ran);
  EXPECT_EQ(ran.out, "in the work root\n") << ran.err;
}

TEST_F(ExecutorTest, OutputIsLiveLineByLineAndBinarySafe) {
  // A 200 KiB line, bytes 0x00 and 0xff, stderr, and a last line without '\n'.
  auto s = sh("head -c 204800 /dev/zero | tr '\\0' a; echo; printf 'bin\\000\\377end\\n'; echo oops >&2; printf tail");
  auto ran = run(s);
  ASSERT_RAN(ran);
  ASSERT_EQ(ran.out_lines.size(), 2u + 204800 / executor::kMaxLineBytes + 1) << ran.out.size();
  std::size_t long_total = 0;
  std::size_t i = 0;
  for (; i < ran.out_lines.size() && ran.out_lines[i].find_first_not_of('a') == std::string::npos; ++i) {
    EXPECT_LE(ran.out_lines[i].size(), executor::kMaxLineBytes);
    long_total += ran.out_lines[i].size();
  }
  EXPECT_EQ(long_total, 204800u);
  ASSERT_LT(i + 1, ran.out_lines.size());
  EXPECT_EQ(ran.out_lines[i], std::string("bin\0\xff" "end", 8));
  EXPECT_EQ(ran.out_lines[i + 1], "tail");
  EXPECT_EQ(ran.err, "oops\n");
}

TEST_F(ExecutorTest, KeptUpperDirHoldsTheChangesAndIsTheCallers) {
  auto s = sh("mkdir -p /app; echo built > /app/out; rm /bin/vi");
  s.keep_upper = true;
  auto ran = run(s);
  ASSERT_RAN(ran);
  ASSERT_FALSE(ran.result->upper_dir.empty());
  EXPECT_EQ(read_file_or_die(ran.result->upper_dir + "/app/out"), "built\n");
  struct stat st;
  ASSERT_EQ(::lstat((ran.result->upper_dir + "/bin/vi").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "overlay whiteout expected for the removed file";
  EXPECT_EQ(work_root_entries(), std::vector<std::string>{"upper-" + ran.result->id});
  ASSERT_TRUE(remove_tree(ran.result->upper_dir).has_value());
}

}  // namespace
}  // namespace gantry::testing

namespace gantry::testing {
namespace {

TEST_F(ExecutorTest, UpperOnDiskIsUsedAndRemoved) {
  // While the container runs, its writes are visible from the host under
  // work_root only with upper_on_disk (otherwise they are in its tmpfs).
  for (bool on_disk : {true, false}) {
    auto s = sh("head -c 1048576 /dev/zero > /big; echo written");
    s.upper_on_disk = on_disk;
    bool seen_on_host = false;
    s.output = [&](executor::Stream, std::string_view line) {
      if (line != "written") return;
      auto r = run_shell("ls " + work_root() + "/ctr-*/upper/big 2>/dev/null");
      seen_on_host = !r.out.empty();
    };
    auto ran = run(s);
    ASSERT_RAN(ran);
    EXPECT_EQ(ran.out, "written\n") << ran.err;
    EXPECT_EQ(seen_on_host, on_disk);
    EXPECT_TRUE(work_root_entries().empty());
  }
}

}  // namespace
}  // namespace gantry::testing
