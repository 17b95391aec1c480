// ci/bench-scale's measurement of the fleet's job queue (pgstore/pg_queue.h)
// on a real PostgreSQL it starts (tests/support/pg_server.h): JOBS trivial
// jobs queued, drained by 1, 2 and 4 claimer processes (each with its own
// connection, as agents have); each claim is followed at once by its result,
// so what is measured is the queue's own cost per stage (claim + finish),
// not a container's. Prints one line per claimer count:
//   claimers=N jobs=J seconds=S jobs_per_s=R claim_p50_ms=A claim_p99_ms=B finish_p50_ms=C overhead_ms_per_job=D
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "pgstore/pg_metadata.h"
#include "pgstore/pg_queue.h"
#include "tests/support/pg_server.h"

namespace {

using Clock = std::chrono::steady_clock;
using gantry::pgstore::JobSpec;
using gantry::pgstore::PgConn;
using gantry::pgstore::PgQueue;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// One claimer: claims and finishes until the queue is empty; writes
// "claim_ms finish_ms" per job to fd.
int claimer(const std::string& url, int index, int fd) {
  auto conn = PgConn::connect(url);
  if (!conn) return 2;
  PgQueue q(**conn);
  const std::string agent = "bench-" + std::to_string(index);
  for (;;) {
    auto t0 = Clock::now();
    auto c = q.claim(agent, {}, 60000);
    auto t1 = Clock::now();
    if (!c) {
      std::fprintf(stderr, "%s\n", c.error().message().c_str());
      return 3;
    }
    if (!*c) return 0;
    if (!q.finish(**c, true, "")) return 4;
    auto t2 = Clock::now();
    char line[64];
    int n = std::snprintf(line, sizeof line, "%.4f %.4f\n", ms(t1 - t0), ms(t2 - t1));
    if (::write(fd, line, static_cast<std::size_t>(n)) != n) return 5;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int jobs = argc > 1 ? std::stoi(argv[1]) : 1000;
  gantry::testing::PgServer server;
  if (!server.skip_reason().empty() || !server.running()) {
    std::fprintf(stderr, "queue_bench: no PostgreSQL: %s%s\n", server.skip_reason().c_str(), server.error().c_str());
    return 1;
  }
  for (int claimers : {1, 2, 4}) {
    const std::string url = server.create_database("bench_" + std::to_string(claimers));
    auto meta = gantry::pgstore::PgMetadata::connect(url);
    if (!meta) {
      std::fprintf(stderr, "%s\n", meta.error().message().c_str());
      return 1;
    }
    PgQueue queue((*meta)->connection());
    std::vector<JobSpec> specs;
    for (int i = 0; i < jobs; ++i) specs.push_back({.run_id = "bench", .name = "s" + std::to_string(i), .payload = "{}"});
    if (!queue.enqueue(specs)) return 1;
    int out[2];
    if (::pipe(out) != 0) return 1;
    auto start = Clock::now();
    std::vector<pid_t> pids;
    for (int i = 0; i < claimers; ++i) {
      pid_t pid = ::fork();
      if (pid == 0) {
        ::close(out[0]);
        ::_exit(claimer(url, i, out[1]));
      }
      pids.push_back(pid);
    }
    ::close(out[1]);
    std::string text;
    char buf[65536];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    bool ok = true;
    for (pid_t pid : pids) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    const double seconds = ms(Clock::now() - start) / 1000.0;
    std::vector<double> claim, finish;
    for (std::size_t pos = 0, end; (end = text.find('\n', pos)) != std::string::npos; pos = end + 1) {
      double c = 0, f = 0;
      if (std::sscanf(text.c_str() + pos, "%lf %lf", &c, &f) == 2) claim.push_back(c), finish.push_back(f);
    }
    if (!ok || static_cast<int>(claim.size()) != jobs) {
      std::fprintf(stderr, "queue_bench: %d claimers drained %zu of %d jobs\n", claimers, claim.size(), jobs);
      return 1;
    }
    double total = 0;
    for (std::size_t i = 0; i < claim.size(); ++i) total += claim[i] + finish[i];
    std::printf("claimers=%d jobs=%d seconds=%.2f jobs_per_s=%.0f claim_p50_ms=%.2f claim_p99_ms=%.2f "
                "finish_p50_ms=%.2f overhead_ms_per_job=%.2f\n",
                claimers, jobs, seconds, jobs / seconds, percentile(claim, 0.5), percentile(claim, 0.99),
                percentile(finish, 0.5), total / static_cast<double>(claim.size()));
    std::fflush(stdout);
  }
  return 0;
}
