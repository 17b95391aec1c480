// Issue 11.3 and 11.5: a run whose gantry process dies is recorded as
// "interrupted" and cleaned up; `gantry retry` runs it again; every stage of
// the pipeline is in the record, also those that never ran ("skipped" with
// the reason).
//
// The crash test kills `gantry run` (and `gantry promote`) with SIGKILL at
// chosen moments, deterministically: a stage (or build step) that should be
// running when the kill comes prints "reached X" and then waits on an HTTP
// request to a loopback Gate of this test (network: host) that the test
// holds unanswered; the test kills gantry once it has read that line. Open,
// the gate answers at once (retries go straight through); set to fail, it
// answers 500 (the stage fails).
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <dirent.h>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/runner/run_fixture.h"

extern char** environ;

namespace gantry::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A loopback HTTP endpoint: answers 200 (open), 500 (failing) or never (held).
class Gate {
 public:
  enum class Mode { open, failing, held };
  Gate() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("gate: cannot listen on loopback");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~Gate() {
    stop_ = true;
    thread_.join();
    for (int c : held_) ::close(c);
    ::close(fd_);
  }
  int port() const { return port_; }
  void set(Mode mode) {
    std::lock_guard lock(mutex_);
    mode_ = mode;
    if (mode != Mode::held) {
      for (int c : held_) answer(c);
      held_.clear();
    }
  }

 private:
  void answer(int c) const {
    const char* reply = mode_ == Mode::open ? "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
                                            : "HTTP/1.0 500 No\r\nContent-Length: 0\r\n\r\n";
    (void)!::send(c, reply, std::strlen(reply), MSG_NOSIGNAL);
    ::close(c);
  }
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::lock_guard lock(mutex_);
      if (mode_ == Mode::held) held_.push_back(c);
      else answer(c);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  Mode mode_ = Mode::open;
  std::vector<int> held_;
  std::thread thread_;
};

// A gantry process whose output (stdout and stderr) the test reads live.
class LiveGantry {
 public:
  LiveGantry(const std::vector<std::string>& args, const std::vector<std::string>& extra_env) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
    env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> argv, envp;
    std::vector<std::string> all = {gantry_binary()};
    all.insert(all.end(), args.begin(), args.end());
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    out_ = fds[0];
    if (rc != 0) throw std::runtime_error("posix_spawn gantry");
  }
  ~LiveGantry() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      reap();
    }
    ::close(out_);
  }
  // Reads output until `pattern` matches (true) or the process ends / the deadline passes (false).
  bool wait_for(const std::regex& pattern, std::chrono::milliseconds timeout = 30s) {
    const auto deadline = Clock::now() + timeout;
    char buf[4096];
    while (!std::regex_search(output_, pattern)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return std::regex_search(output_, pattern);
      output_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  bool wait_for(const std::string& text, std::chrono::milliseconds timeout = 30s) {
    return wait_for(std::regex(std::regex_replace(text, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)")), timeout);
  }
  // SIGKILL, then reap: the wait status.
  int kill_and_reap() {
    EXPECT_EQ(::kill(pid_, SIGKILL), 0);
    return reap();
  }
  // Waits for the end on its own: the wait status.
  int reap() {
    int status = 0;
    bool ended = false;
    while (true) {  // read meanwhile: it may block on a full pipe
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, ended ? 0 : 20) > 0) {
        char buf[4096];
        ssize_t n = ::read(out_, buf, sizeof buf);
        if (n > 0) {
          output_.append(buf, static_cast<std::size_t>(n));
          continue;
        }
      }
      if (ended) break;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) ended = true;
    }
    pid_ = -1;
    return status;
  }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string output_;
};

// Pids of the processes whose environment holds any of `needles` ("K=V").
std::vector<int> processes_with_env(const std::vector<std::string>& needles) {
  std::vector<int> out;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
  while (dirent* e = ::readdir(proc.get())) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/environ", std::ios::binary);
    std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::stringstream entries(env);
    for (std::string entry; std::getline(entries, entry, '\0');)
      for (const auto& n : needles)
        if (entry == n) out.push_back(std::atoi(e->d_name));
  }
  return out;
}

// The container dirs under the store's containers dir and the cgroup dirs they recorded.
struct ContainerTrace {
  std::set<std::string> dirs;
  std::set<std::string> cgroups;
};
ContainerTrace containers_of(const std::string& store) {
  ContainerTrace t;
  const std::string root = store + "/tmp/containers";
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(root.c_str()), ::closedir);
  if (!dir) return t;
  while (dirent* e = ::readdir(dir.get())) {
    std::string name = e->d_name;
    if (!name.starts_with("ctr-") && !name.starts_with("new-ctr-")) continue;
    t.dirs.insert(root + "/" + name);
    std::ifstream in(root + "/" + name + "/cgroups");
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) t.cgroups.insert(line);
  }
  return t;
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

class RunCrashTest : public RunFixture {
 protected:
  void write_pipeline() {
    auto wait_on = [](const char* what, const Gate& g) {
      return std::string("echo reached ") + what + "; wget -q -O /dev/null http://127.0.0.1:" +
             std::to_string(g.port()) + "/ || exit 7";
    };
    commit({{"src/hello.txt", "hello\n"},
            {".gantry.yml",
             "images:\n"
             "  app:\n"
             "    from: busybox\n"
             "    steps:\n"
             "      - copy: src/ /app/\n"
             "      - run: '" + wait_on("build", build_) + "; echo built > /app/built'\n"
             "        network: host\n"
             "stages:\n"
             "  unit:\n"
             "    image: app\n"
             "    network: host\n"
             "    cache: false\n"
             "    limits: {memory: 64M, pids: 64}\n"
             "    run: '" + wait_on("unit", unit_) + "; cat /app/built'\n"
             "  lint:\n"
             "    image: app\n"
             "    network: host\n"
             "    cache: false\n"
             "    limits: {memory: 64M, pids: 64}\n"
             "    run: '" + wait_on("lint", lint_) + "'\n"
             "  smoke:\n"
             "    image: app\n"
             "    environment: staging\n"
             "    needs: [unit]\n"
             "    network: host\n"
             "    cache: false\n"
             "    limits: {memory: 64M}\n"
             "    run: '" + wait_on("smoke", smoke_) + "'\n"
             "  deploy:\n"
             "    image: app\n"
             "    environment: production\n"
             "    network: host\n"
             "    cache: false\n"
             "    limits: {pids: 32}\n"
             "    run: '" + wait_on("deploy", deploy_) + "'\n"
             "environments:\n"
             "  - test\n"
             "  - staging\n"
             "  - {name: production, when: manual}\n"}});
  }

  void open_all() {
    for (Gate* g : {&build_, &unit_, &lint_, &smoke_, &deploy_}) g->set(Gate::Mode::open);
  }

  nlohmann::json history_run(const std::string& id) {
    auto history = gantry_json({"history", "--json", "-n", "1000"});
    for (const auto& r : history["runs"])
      if (r.value("id", "") == id) return r;
    ADD_FAILURE() << "run " << id << " not in history";
    return nlohmann::json::object();
  }

  // Kills `gantry ARGS` once its output matches every marker; then checks
  // everything the issue asks and retries the run. `held` names the stages
  // that were running when the kill came.
  void kill_and_check(const std::string& label, const std::vector<std::string>& args,
                      const std::vector<std::string>& markers, const std::vector<std::string>& held,
                      std::string run_id = "") {
    SCOPED_TRACE(label);
    const std::string token = "GANTRY_CRASH_TOKEN=" + label + "-" + std::to_string(::getpid());
    std::vector<std::string> argv = {"--store", store_};
    argv.insert(argv.end(), args.begin(), args.end());
    LiveGantry g(argv, {token});
    if (run_id.empty()) {
      ASSERT_TRUE(g.wait_for(std::regex(R"(run (\d{8}-\d{6}-[0-9a-f]{4}):)"))) << g.output();
      std::smatch m;
      std::regex_search(g.output(), m, std::regex(R"(run (\d{8}-\d{6}-[0-9a-f]{4}):)"));
      run_id = m[1];
    }
    for (const auto& marker : markers) ASSERT_TRUE(g.wait_for("| " + marker)) << g.output();
    const ContainerTrace before = containers_of(store_);
    if (!held.empty()) {
      EXPECT_FALSE(before.cgroups.empty()) << "stages with limits record their cgroups";
    }

    const int status = g.kill_and_reap();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "gantry ended on its own:\n" << g.output();

    // No process of it is left (its containers' inits die with it).
    const std::vector<std::string> needles = {token, "GANTRY_RUN_ID=" + run_id};
    const auto deadline = Clock::now() + 2s;
    std::vector<int> left = processes_with_env(needles);
    while (!left.empty() && Clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
      left = processes_with_env(needles);
    }
    EXPECT_TRUE(left.empty()) << left.size() << " processes of the killed run still alive (first pid "
                              << (left.empty() ? 0 : left[0]) << ")";

    // The next command marks it interrupted, with its unfinished stages.
    const auto run = history_run(run_id);
    EXPECT_EQ(run.value("status", ""), "interrupted") << run.dump(2);
    EXPECT_NE(run.value("error", "").find("interrupted"), std::string::npos);
    EXPECT_FALSE(run["finished"].is_null());
    EXPECT_EQ(run["stages"].size(), 4u) << "every stage of the pipeline is in the record";
    for (const auto& s : run["stages"]) {
      EXPECT_NE(s.value("status", ""), "running") << s.dump();
      EXPECT_NE(s.value("status", ""), "pending") << s.dump();
    }
    for (const auto& name : held) {
      const auto& s = stage(run, name);
      EXPECT_EQ(s.value("status", ""), "interrupted") << s.dump();
      EXPECT_EQ(s.value("detail", ""), "the run was interrupted while it ran");
    }
    // ...and swept its containers: dirs, cgroups, no mount of the store.
    for (const auto& d : before.dirs)
      EXPECT_FALSE(exists(d)) << d << ":\n" << run_shell("ls -la " + d + "; cat " + d + "/cgroups").out
                              << run_gantry(store_, {"-vv", "history"}).err;
    for (const auto& c : before.cgroups) EXPECT_FALSE(exists(c)) << c;
    EXPECT_TRUE(containers_of(store_).dirs.empty());
    std::ifstream mountinfo("/proc/self/mountinfo");
    for (std::string line; std::getline(mountinfo, line);)
      EXPECT_EQ(line.find(store_), std::string::npos) << line;
    auto fsck = run_gantry(store_, {"fsck"});
    EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;

    // gantry retry: a new run of the same commit that passes (up to the gate).
    open_all();
    auto retried = gantry_json({"retry", run_id, "--json"});
    EXPECT_EQ(retried.value("retry_of", ""), run_id);
    EXPECT_EQ(retried.value("commit", ""), run.value("commit", "")) << retried.dump(2);
    EXPECT_EQ(retried.value("status", ""), "waiting") << retried.dump(2);
    EXPECT_EQ(retried.value("waiting_environment", ""), "production");
    for (const auto& s : retried["stages"])
      EXPECT_EQ(s.value("status", ""), s.value("name", "") == "deploy" ? "skipped" : "passed") << s.dump();
  }

  Gate build_, unit_, lint_, smoke_, deploy_;
};

TEST_F(RunCrashTest, KilledRunsAreInterruptedCleanedUpAndRetried) {
  write_pipeline();
  const auto started = Clock::now();
  int kills = 0;
  // In a build step, on the first run (nothing cached yet).
  build_.set(Gate::Mode::held);
  kill_and_check("build", {"run", repo_}, {"reached build"}, {});
  ++kills;
  for (int round = 0; round < 3; ++round) {
    // Right after the run is recorded (a stage holds it from finishing).
    unit_.set(Gate::Mode::held);
    kill_and_check("recorded", {"run", repo_}, {}, {});
    // One stage with limits running.
    unit_.set(Gate::Mode::held);
    kill_and_check("unit", {"run", repo_}, {"reached unit"}, {"unit"});
    // Two parallel stages running.
    unit_.set(Gate::Mode::held);
    lint_.set(Gate::Mode::held);
    kill_and_check("unit+lint", {"run", repo_, "-j", "2"}, {"reached unit", "reached lint"}, {"unit", "lint"});
    // In the second environment, after the promotion to the first.
    smoke_.set(Gate::Mode::held);
    kill_and_check("smoke", {"run", repo_}, {"reached smoke"}, {"smoke"});
    // A build step again (--no-cache), with the layers of earlier runs in the store.
    build_.set(Gate::Mode::held);
    kill_and_check("no-cache build", {"run", repo_, "--no-cache"}, {"reached build"}, {});
    // `gantry promote` through the manual gate, killed in production's stage.
    auto waiting = run_json();
    ASSERT_EQ(waiting.value("status", ""), "waiting") << waiting.dump(2);
    deploy_.set(Gate::Mode::held);
    kill_and_check("promote", {"promote", "app", "--to", "production", "--run", waiting["id"]}, {"reached deploy"},
                   {"deploy"}, waiting["id"]);
    kills += 6;
  }
  const auto seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("[ measured ] %d kills, each checked and retried, in %.1f s\n", kills, seconds);
}

TEST_F(RunCrashTest, RetryOfAnUnknownOrRunningRunIsRefused) {
  write_pipeline();
  auto unknown = run_gantry(store_, {"retry", "20000101-000000-dead", "--json"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("not found"), std::string::npos) << unknown.err;
  EXPECT_EQ(run_count(), 0u) << "nothing recorded";

  unit_.set(Gate::Mode::held);
  LiveGantry live({"--store", store_, "run", repo_}, {});
  ASSERT_TRUE(live.wait_for("| reached unit")) << live.output();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(live.output(), m, std::regex(R"(run (\d{8}-\d{6}-[0-9a-f]{4}):)")));
  const std::string id = m[1];
  auto busy = run_gantry(store_, {"retry", id});
  EXPECT_NE(busy.exit_code, 0);
  EXPECT_NE(busy.err.find("still running"), std::string::npos) << busy.err;
  // A command that reads runs meanwhile leaves the live run alone.
  EXPECT_EQ(history_run(id).value("status", ""), "running");
  open_all();
  const int status = live.reap();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << live.output();
  EXPECT_EQ(history_run(id).value("status", ""), "waiting");
  EXPECT_EQ(run_count(), 1u) << "the refused retry recorded nothing";
}

// 11.3 retry semantics and 11.5 skipped reasons, without a kill.
TEST_F(RunCrashTest, RetryRerunsFailedAndSkippedStages_ServesPassedOnesFromTheCache) {
  commit({{".gantry.yml",
           "stages:\n"
           "  lint: {image: busybox, run: echo lint ok}\n"
           "  unit:\n"
           "    image: busybox\n"
           "    network: host\n"
           "    run: wget -q -O /dev/null http://127.0.0.1:" + std::to_string(unit_.port()) + "/\n"
           "  smoke: {image: busybox, environment: staging, needs: [unit], run: echo smoke ok}\n"
           "  docs: {image: busybox, environment: staging, run: echo docs ok}\n"
           "  deploy: {image: busybox, environment: production, run: echo deploy ok}\n"
           "environments: [test, staging, {name: production, when: manual}]\n"}});
  unit_.set(Gate::Mode::failing);
  auto failed = run_json({}, {}, 1);
  ASSERT_EQ(failed.value("status", ""), "failed") << failed.dump(2);
  const std::string id = failed["id"];
  EXPECT_TRUE(failed["retry_of"].is_null());
  // Every stage is in the record, in the pipeline's order.
  std::vector<std::string> names;
  for (const auto& s : failed["stages"]) names.push_back(s["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"lint", "unit", "smoke", "docs", "deploy"}));
  EXPECT_EQ(stage(failed, "lint").value("status", ""), "passed");
  EXPECT_EQ(stage(failed, "unit").value("status", ""), "failed");
  EXPECT_EQ(stage(failed, "smoke").value("status", ""), "skipped");
  EXPECT_EQ(stage(failed, "smoke").value("detail", ""), "needs unit (failed)");
  EXPECT_EQ(stage(failed, "docs").value("status", ""), "skipped");
  EXPECT_EQ(stage(failed, "docs").value("detail", ""), "environment staging not reached");
  EXPECT_EQ(stage(failed, "deploy").value("detail", ""), "environment production not reached");
  // The same in `show`.
  auto show = run_gantry(store_, {"show", id});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  for (const char* text : {"needs unit (failed)", "environment staging not reached",
                           "environment production not reached"})
    EXPECT_NE(show.out.find(text), std::string::npos) << text << "\n" << show.out;

  unit_.set(Gate::Mode::open);
  auto retried = gantry_json({"retry", id.substr(0, 17), "--json"});
  EXPECT_EQ(retried.value("retry_of", ""), id);
  EXPECT_EQ(retried.value("status", ""), "waiting") << retried.dump(2);
  EXPECT_TRUE(stage(retried, "lint").value("cached", false)) << "passed: served from the stage cache";
  EXPECT_EQ(stage(retried, "lint").value("cached_from", ""), id);
  EXPECT_EQ(stage(retried, "unit").value("status", ""), "passed");
  EXPECT_FALSE(stage(retried, "unit").value("cached", true)) << "failed: ran again";
  EXPECT_EQ(stage(retried, "smoke").value("status", ""), "passed");
  EXPECT_FALSE(stage(retried, "smoke").value("cached", true)) << "skipped: ran again";
  EXPECT_EQ(stage(retried, "deploy").value("status", ""), "skipped");
  EXPECT_EQ(stage(retried, "deploy").value("detail", ""), "waiting at manual gate production");
  auto shown = gantry_json({"show", retried["id"], "--json"});
  EXPECT_EQ(shown.value("retry_of", ""), id);

  // The live view (plain lines when stdout is not a terminal) names them too.
  unit_.set(Gate::Mode::failing);
  auto plain = run_command({gantry_binary(), "--store", store_, "run", repo_, "--no-cache"});
  EXPECT_EQ(plain.exit_code, 1) << plain.out << plain.err;
  EXPECT_NE(plain.out.find("[staging] smoke ... skipped (needs unit (failed))"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("[staging] docs ... skipped (environment staging not reached)"), std::string::npos)
      << plain.out;
  EXPECT_NE(plain.out.find("[production] deploy ... skipped (environment production not reached)"),
            std::string::npos)
      << plain.out;
}

}  // namespace
}  // namespace gantry::testing
