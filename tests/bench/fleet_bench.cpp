// ci/bench-scale's second part: real stages on a real fleet on this machine.
// A PostgreSQL and a docker-registry started here (the tests' harness), one
// pipeline of STAGES trivial stages (`true` on busybox, stage cache off), run
//   - locally: `gantry run --local --jobs N` (the same record in PostgreSQL),
//   - on the fleet: `gantry run` (queued) drained by 1, 2 and 4 agents, each
//     `gantry agent --jobs 1` with its own store,
// tools taking turns, ROUNDS rounds. Prints one line per setup with the
// median wall time, stages per second and, for the fleet, the queue's cost
// per stage against the local run with the same parallelism
// ((fleet - local) / stages, which includes the run's fixed costs: the build
// job pushing the image, the promotion, the follower's 200 ms polls), and the
// agents' own cost per stage job from their phase marks (claim, reading the
// run, reporting, settling, the gap to the next claim: everything but the
// container). Not a test: never registered with ctest.
//   gantry_fleet_bench GANTRY STAGES ROUNDS
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/registry/local_registry.h"
#include "tests/support/background_process.h"
#include "tests/support/pg_server.h"
#include "tests/support/test_support.h"

namespace {

using namespace gantry::testing;
using Clock = std::chrono::steady_clock;

struct Setup {
  std::string name;
  int agents = 0;      // 0: local run
  int local_jobs = 1;  // local: --jobs
};

// From one agent's marks ("gantry-phase NAME NS" lines, jobs one after
// another): per stage job, claim -> stage prepared + stage ran -> run settled
// + the gap to the next claim, in ms.
void collect_overhead(const std::string& marks, std::vector<double>& out) {
  std::map<std::string, long long> at;
  long long last_settled = 0;
  std::size_t pos = 0;
  while (pos < marks.size()) {
    std::size_t end = marks.find('\n', pos);
    if (end == std::string::npos) end = marks.size();
    char name[64] = {};
    long long ns = 0;
    if (std::sscanf(marks.substr(pos, end - pos).c_str(), "gantry-phase %63s %lld", name, &ns) == 2) {
      const std::string n = name;
      if (n == "job_claimed") {
        at.clear();
        if (last_settled > 0) at["gap"] = ns - last_settled;
      }
      at[n] = ns;
      if (n == "job_settled") {
        last_settled = ns;
        if (at.count("job_stage_prepared") && at.count("job_ran") && at.count("job_claimed"))
          out.push_back((at["job_stage_prepared"] - at["job_claimed"] + ns - at["job_ran"] + at["gap"]) / 1e6);
      }
    }
    pos = end + 1;
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s GANTRY STAGES ROUNDS\n", argv[0]);
    return 2;
  }
  const std::string gantry = argv[1];
  const int stages = std::atoi(argv[2]);
  const int rounds = std::atoi(argv[3]);
  PgServer server;
  if (!server.running()) {
    std::fprintf(stderr, "PostgreSQL: %s%s\n", server.skip_reason().c_str(), server.error().c_str());
    return 1;
  }
  LocalRegistry registry;
  if (!registry.error().empty()) {
    std::fprintf(stderr, "registry: %s\n", registry.error().c_str());
    return 1;
  }
  ScratchDir dir;
  const std::vector<std::string> env = {"GANTRY_INSECURE_REGISTRIES=" + registry.host()};
  std::vector<std::string> agent_env = env;
  agent_env.push_back("GANTRY_TRACE_PHASES=1");
  // busybox, imported into each store (the same digest everywhere).
  make_busybox_rootfs(dir / "rootfs");
  const std::string tarball = dir / "busybox.tar";
  run_command({"tar", "-C", dir / "rootfs", "-cf", tarball, "."});
  auto make_store = [&](const std::string& name) {
    const std::string store = dir / name;
    auto r = run_command({gantry, "--store", store, "image", "import", tarball, "busybox"});
    if (r.exit_code != 0) std::fprintf(stderr, "import: %s\n", r.err.c_str());
    return store;
  };
  const std::string repo = dir / "repo";
  std::string yaml = "stages:\n";
  for (int i = 0; i < stages; ++i) yaml += "  s" + std::to_string(i) + ": {image: busybox, cache: false, run: 'true'}\n";
  yaml += "environments: [test]\n";
  write_file(repo + "/.gantry.yml", yaml);
  run_shell("cd " + repo + " && git init -q -b main && git -c user.email=b@x -c user.name=b add -A && "
            "git -c user.email=b@x -c user.name=b commit -qm bench");

  const std::vector<Setup> setups = {{"local --jobs 1", 0, 1}, {"fleet 1 agent", 1, 1}, {"local --jobs 2", 0, 2},
                                     {"fleet 2 agents", 2, 2}, {"local --jobs 4", 0, 4}, {"fleet 4 agents", 4, 4}};
  std::map<std::string, std::vector<double>> seconds;
  std::map<std::string, std::vector<double>> overhead;  // ms per stage job on its agent
  const std::string submitter = make_store("submitter");
  std::vector<std::string> agent_stores;
  for (int i = 0; i < 4; ++i) agent_stores.push_back(make_store("agent" + std::to_string(i)));
  int db_index = 0;
  for (int round = 0; round < rounds; ++round) {
    for (const auto& s : setups) {
      const std::string db = server.create_database("bench_" + std::to_string(++db_index));
      std::vector<std::unique_ptr<BackgroundProcess>> agents;
      for (int a = 0; a < s.agents; ++a)
        agents.push_back(std::make_unique<BackgroundProcess>(
            std::vector<std::string>{gantry, "--store", agent_stores[a], "agent", "--db", db, "--registry",
                                     registry.host() + "/bench", "--name", "agent" + std::to_string(a), "--poll", "20"},
            agent_env, dir / ("agent" + std::to_string(a) + ".log")));
      if (s.agents > 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));  // agents up
      std::vector<std::string> cmd = {gantry, "--store", s.agents ? submitter : agent_stores[0], "--db", db, "run",
                                      repo, "--json"};
      if (s.agents == 0) {
        cmd.push_back("--local");
        cmd.push_back("--jobs");
        cmd.push_back(std::to_string(s.local_jobs));
      }
      const auto t0 = Clock::now();
      auto r = run_command(cmd, env);
      const double took = std::chrono::duration<double>(Clock::now() - t0).count();
      agents.clear();  // SIGTERM: each finishes and exits
      // The agents' per-job marks (GANTRY_TRACE_PHASES, printed at exit):
      // what a stage job costs on an agent besides its container.
      for (int a = 0; a < s.agents; ++a) {
        const std::string log = dir / ("agent" + std::to_string(a) + ".log");
        const std::string marks = run_command({"grep", "^gantry-phase job_", log}).out;
        collect_overhead(marks, overhead[s.name]);
        if (std::getenv("GANTRY_BENCH_MARKS") != nullptr) std::printf("# %s agent%d\n%s", s.name.c_str(), a, marks.c_str());
        if (::truncate(log.c_str(), 0) != 0) std::perror("truncate");
      }
      if (r.exit_code != 0) {
        std::fprintf(stderr, "%s: exit %d\n%s\n%s\n", s.name.c_str(), r.exit_code, r.out.c_str(), r.err.c_str());
        return 1;
      }
      seconds[s.name].push_back(took);
    }
  }
  double load[3] = {};
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
    std::fclose(f);
  }
  std::printf("stages=%d rounds=%d load=%.2f (medians)\n", stages, rounds, load[0]);
  for (const auto& s : setups) {
    const double m = median(seconds[s.name]);
    std::printf("%-16s seconds=%.2f stages_per_s=%.1f", s.name.c_str(), m, stages / m);
    if (s.agents > 0) {
      const double local = median(seconds["local --jobs " + std::to_string(s.local_jobs)]);
      const double one = median(seconds["fleet 1 agent"]);
      std::printf(" vs_local_ms_per_stage=%.1f agent_overhead_ms_per_stage=%.2f vs_1_agent=%.2fx",
                  (m - local) * 1000.0 / stages, median(overhead[s.name]), one / m);
    }
    std::printf("\n");
  }
  return 0;
}
