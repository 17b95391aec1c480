// Every bad input of `gantry build` gets a clear message and a non-zero exit,
// and a bad file never starts a container.
#include "tests/runner/build_fixture.h"

namespace gantry::testing {
namespace {

class BuildErrorsTest : public BuildFixture {
 protected:
  // Commits the pipeline (and a.txt), builds, expects exit 1 and returns stderr.
  std::string failing_build(const std::string& pipeline, const std::vector<std::string>& args = {}) {
    commit({{".gantry.yml", pipeline}, {"a.txt", "a\n"}});
    auto r = build(args);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    return r.err;
  }
  static void expect_has(const std::string& text, const std::string& part) {
    EXPECT_NE(text.find(part), std::string::npos) << "expected '" << part << "' in:\n" << text;
  }
};

TEST_F(BuildErrorsTest, MalformedYaml_NamesFileAndLine) {
  auto err = failing_build("images:\n  app:\n    from: busybox\n    steps: [\n");
  expect_has(err, ".gantry.yml:");
}

TEST_F(BuildErrorsTest, UnknownKey_SuggestsTheRightOne) {
  auto err = failing_build("images:\n  app:\n    from: busybox\n    steps:\n      - rnu: true\n");
  expect_has(err, ".gantry.yml:5:");
  expect_has(err, "rnu");
  expect_has(err, "run");
}

TEST_F(BuildErrorsTest, FromNamingNothing_IsReportedWithItsPosition) {
  auto err = failing_build("images:\n  app:\n    from: no-such-base\n    steps:\n      - run: true\n");
  expect_has(err, ".gantry.yml:3:");
  expect_has(err, "no-such-base");
}

// Issue 10.7: containers have no CAP_MKNOD, so a run step that makes a device
// node fails, with the step and the kernel's refusal in the message; FIFOs
// and deleting a file of the base (an overlay whiteout) still work.
TEST_F(BuildErrorsTest, RunStepMakingADeviceNode_FailsNamingTheStepAndTheRefusal) {
  auto err = failing_build(
      "images:\n  app:\n    from: busybox\n    steps:\n"
      "      - run: mkfifo /fifo && mknod /pipe p && rm /bin/vi && echo fifo-and-whiteout-ok\n"
      "      - run: mknod /dev-null c 1 3\n");
  expect_has(err, "step #2");
  expect_has(err, "mknod /dev-null c 1 3");
  expect_has(err, "Operation not permitted");
}

TEST_F(BuildErrorsTest, CycleBetweenImages_IsNamed) {
  auto err = failing_build("images:\n  a:\n    from: b\n  b:\n    from: a\n");
  expect_has(err, "cycle");
  expect_has(err, "a");
  expect_has(err, "b");
}

TEST_F(BuildErrorsTest, CopySourceAbsentFromCommit_NamesTheSource) {
  auto err = failing_build("images:\n  app:\n    from: busybox\n    steps:\n      - copy: missing.txt /x\n");
  expect_has(err, "missing.txt");
}

TEST_F(BuildErrorsTest, UnknownRevision_IsNamed) {
  auto err = failing_build("images:\n  app:\n    from: busybox\n", {"--rev", "no-such-branch"});
  expect_has(err, "no-such-branch");
}

TEST_F(BuildErrorsTest, UnknownImageName_ListsTheImages) {
  auto err = failing_build("images:\n  app:\n    from: busybox\n", {"nope"});
  expect_has(err, "nope");
  expect_has(err, "app");
}

TEST_F(BuildErrorsTest, PathThatIsNotARepository_IsRefused) {
  auto r = run_gantry(store_, {"build", dir_ / "store"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  expect_has(r.err, "not a git repository");
}

TEST_F(BuildErrorsTest, UnreachableUrl_IsReported) {
  auto r = run_gantry(store_, {"build", "file://" + (dir_ / "nowhere.git")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  expect_has(r.err, "nowhere.git");
}

TEST_F(BuildErrorsTest, MissingPipelineFile_IsNamed) {
  commit({{"a.txt", "a\n"}});
  auto r = build({"--file", "sub/.gantry.yml"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  expect_has(r.err, "sub/.gantry.yml");
}

TEST_F(BuildErrorsTest, FailingStep_ShowsOutputNamesStepAndCachesNothingForIt) {
  const std::string pipeline =
      "images:\n  app:\n    from: busybox\n    steps:\n      - copy: a.txt /a.txt\n"
      "      - run: echo boom-output; exit 3\n";
  commit({{".gantry.yml", pipeline}, {"a.txt", "a\n"}});
  auto r = build();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  expect_has(r.out + r.err, "boom-output");
  expect_has(r.err, "app");
  expect_has(r.err, "step #2");
  expect_has(r.err, "echo boom-output; exit 3");
  expect_has(r.err, "exit code 3");

  // Again: the copy is cached, the failed step runs again (nothing was recorded).
  auto again = build({"--json"});
  EXPECT_EQ(again.exit_code, 1);
  expect_has(again.err, "step #2");
  auto fixed = pipeline.substr(0, pipeline.find("exit 3")) + "true\n";
  commit({{".gantry.yml", fixed}});
  auto ok = build_json();
  EXPECT_EQ(cached_flags(ok, "app"), (std::vector<bool>{true, false}));
}

}  // namespace
}  // namespace gantry::testing
