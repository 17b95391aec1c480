// Matrix stages end to end: every cell in its own container with its
// variables, `needs` on the matrix waits for every cell, each cell cached on
// its own (a changed value reruns only its cells), logs per cell.
#include <algorithm>

#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

class RunMatrixTest : public RunFixture {};

const char* kCells[] = {"unit [CC=gcc, OPT=-O0]", "unit [CC=gcc, OPT=-O2]", "unit [CC=clang, OPT=-O0]",
                        "unit [CC=clang, OPT=-O2]"};

std::string pipeline_with(const std::string& opt2) {
  return "stages:\n"
         "  unit:\n"
         "    image: busybox\n"
         "    workspace: false\n"
         "    run: 'echo \"cell CC=$CC OPT=$OPT stage=$GANTRY_STAGE\"; sleep 0.3; date +%s%N'\n"
         "    matrix: {CC: [gcc, clang], OPT: [\"-O0\", \"" + opt2 + "\"]}\n"
         "  report:\n"
         "    image: busybox\n"
         "    needs: unit\n"
         "    workspace: false\n"
         "    run: date +%s%N\n";
}

TEST_F(RunMatrixTest, TwoByTwo_RunsFourCellsWithTheirEnv_NeedsWaitsForAll_AChangedValueRerunsOnlyItsCells) {
  commit({{".gantry.yml", pipeline_with("-O2")}});
  auto run = run_json({"--jobs", "2"});
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  ASSERT_EQ(run["stages"].size(), 5u) << run.dump(2);
  std::int64_t last_cell_end = 0;
  for (const char* name : kCells) {
    const auto& cell = stage(run, name);
    EXPECT_EQ(cell.value("status", ""), "passed") << name;
    EXPECT_FALSE(cell.value("cached", true)) << name;
    auto end = cell["started_ms"].get<std::int64_t>() + static_cast<std::int64_t>(cell["seconds"].get<double>() * 1000);
    last_cell_end = std::max(last_cell_end, end);
    auto logs = run_gantry(store_, {"logs", run["id"], name});
    std::string cc = std::string(name).find("clang") != std::string::npos ? "clang" : "gcc";
    std::string opt = std::string(name).find("-O0") != std::string::npos ? "-O0" : "-O2";
    EXPECT_NE(logs.out.find("cell CC=" + cc + " OPT=" + opt + " stage=" + name), std::string::npos)
        << name << ":\n" << logs.out << logs.err;
  }
  // `needs: unit` waited for every cell.
  EXPECT_GE(stage(run, "report")["started_ms"].get<std::int64_t>(), last_cell_end - 5);

  // Same file: every cell from the cache. OPT -O2 -> -O3: only the two -O3
  // cells (and report, which needs them) run again.
  auto same = run_json();
  for (const auto& s : same["stages"]) EXPECT_TRUE(s.value("cached", false)) << s.dump();
  commit({{".gantry.yml", pipeline_with("-O3")}});
  auto changed = run_json();
  ASSERT_EQ(changed.value("status", ""), "passed") << changed.dump(2);
  EXPECT_TRUE(stage(changed, "unit [CC=gcc, OPT=-O0]").value("cached", false));
  EXPECT_TRUE(stage(changed, "unit [CC=clang, OPT=-O0]").value("cached", false));
  EXPECT_FALSE(stage(changed, "unit [CC=gcc, OPT=-O3]").value("cached", true));
  EXPECT_FALSE(stage(changed, "unit [CC=clang, OPT=-O3]").value("cached", true));
  EXPECT_FALSE(stage(changed, "report").value("cached", true));
}

TEST_F(RunMatrixTest, AValueWithASlash_LogsAndArtifactsStayInTheRunDir) {
  commit({{".gantry.yml",
           "stages:\n"
           "  make:\n"
           "    image: busybox\n"
           "    run: 'mkdir -p /out && echo \"built with $TOOL\" > /out/r.txt'\n"
           "    artifacts: [/out/r.txt]\n"
           "    matrix: {TOOL: [/bin/true]}\n"
           "  use: {image: busybox, needs: make, run: 'cat \"/artifacts/make [TOOL=%2Fbin%2Ftrue]/out/r.txt\"'}\n"}});
  auto run = run_json();
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  std::string run_dir = store_ + "/runs/" + run["id"].get<std::string>();
  EXPECT_EQ(read_file_or_die(run_dir + "/artifacts/make [TOOL=%2Fbin%2Ftrue]/out/r.txt"), "built with /bin/true\n");
  auto logs = run_gantry(store_, {"logs", run["id"], "use"});
  EXPECT_NE(logs.out.find("built with /bin/true"), std::string::npos) << logs.out;
}

}  // namespace
}  // namespace gantry::testing
