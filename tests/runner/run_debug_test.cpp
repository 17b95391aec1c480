// gantry debug: a command in a fresh container of an image as it was just
// before a step of a run (by default the failed step: the state it failed
// on); nothing it does outlives it.
#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunDebugTest : public RunFixture {};

TEST_F(RunDebugTest, FailedStep_StateBeforeIt_IsThere_AndNothingIsKept) {
  commit({{".gantry.yml",
           "images:\n  lib:\n    from: busybox\n    workdir: /build\n    steps:\n"
           "      - run: echo 'checking for cc... no' > config.log\n"
           "      - env: {MODE: release}\n"
           "      - run: echo half > /half; exit 3\n"
           "stages:\n  unit: {image: lib, run: 'true'}\n"}});
  auto run = run_json({}, {}, 1);
  ASSERT_EQ(run.value("status", ""), "failed") << run.dump(2);
  const std::string id = run.value("id", "");
  auto images_before = run_gantry(store_, {"image", "ls"}).out;

  // Default: the state the failed step #3 ran on (its workdir and env too).
  auto r = run_gantry(store_, {"debug", id, "--", "sh", "-c", "pwd; cat config.log; echo mode=$MODE; test ! -e /half"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("/build\nchecking for cc... no\nmode=release\n"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("lib as it was before step #3 (run: echo half > /half; exit 3)"), std::string::npos) << r.err;

  // An explicit step: before step #1 nothing of the build is there.
  r = run_gantry(store_, {"debug", id, "--image", "lib", "--step", "1", "--", "test", "-e", "/build/config.log"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;

  // The container's writes go with it; no image or tag is made.
  r = run_gantry(store_, {"debug", id, "--", "sh", "-c", "echo x > /build/new"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_gantry(store_, {"debug", id, "--", "test", "-e", "/build/new"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(run_gantry(store_, {"image", "ls"}).out, images_before);

  r = run_gantry(store_, {"debug", id, "--image", "lib", "--step", "9", "--", "true"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("image lib has steps #1 to #3"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gantry::testing
