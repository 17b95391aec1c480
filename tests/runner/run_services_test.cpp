// Services end to end: a stage reaches a busybox httpd service by name and on
// 127.0.0.1 after its probe; a service that never gets ready fails the stage
// within its timeout with the end of its log; service logs are kept; nothing
// (container dir, cgroup, mount) is left after a passing, a failing and a
// killed run.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "tests/runner/run_fixture.h"

namespace gantry::testing {
namespace {

// Watches the store's container dirs while a run goes on: every container
// dir seen and every cgroup it recorded (other helpers' containers, in other
// stores, are never counted).
class ContainerWatcher {
 public:
  explicit ContainerWatcher(std::string store) : root_(std::move(store) + "/tmp/containers") {
    thread_ = std::thread([this] {
      while (!stop_) {
        scan();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  ~ContainerWatcher() { finish(); }
  void finish() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
    }
  }
  std::size_t seen() {
    std::lock_guard lock(mu_);
    return dirs_.size();
  }
  // What is still there of what was seen: dirs, cgroups, mounts of the store.
  std::vector<std::string> left(const std::string& store) {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& p : dirs_)
      if (::access(p.c_str(), F_OK) == 0) out.push_back(p);
    for (const auto& p : cgroups_)
      if (::access(p.c_str(), F_OK) == 0) out.push_back(p);
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);)
      if (line.find(store) != std::string::npos) out.push_back(line);
    return out;
  }

 private:
  void scan() {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(root_, ec)) {
      std::string name = e.path().filename().string();
      if (!name.starts_with("ctr-")) continue;
      std::ifstream in(e.path() / "cgroups");
      std::lock_guard lock(mu_);
      dirs_.insert(e.path().string());
      for (std::string line; std::getline(in, line);)
        if (!line.empty()) cgroups_.insert(line);
    }
  }
  std::string root_;
  std::mutex mu_;
  std::set<std::string> dirs_, cgroups_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

class RunServicesTest : public RunFixture {};

const char* kHttpd =
    "stages:\n"
    "  web:\n"
    "    image: busybox\n"
    "    run:\n"
    "      - wget -q -O - http://www:8080/index.html\n"
    "      - wget -q -O - http://127.0.0.1:8080/index.html\n"
    "      - grep -q '127.0.0.1.*www' /etc/hosts\n"
    "      - if wget -q -T 2 -O - http://1.1.1.1/ 2>/dev/null; then echo 'reached the outside'; exit 1; fi\n"
    "    services:\n"
    "      - name: www\n"
    "        image: busybox\n"
    "        command: 'mkdir -p /srv && echo served-by-www > /srv/index.html && echo starting && "
    "exec httpd -f -v -p 8080 -h /srv'\n"
    "        ready: {tcp: 8080}\n"
    "        timeout: 20s\n";

TEST_F(RunServicesTest, StageReachesAnHttpdServiceByNameAndLoopback_AfterItsTcpProbe_NothingLeft) {
  commit({{".gantry.yml", kHttpd}});
  ContainerWatcher watch(store_);
  auto run = run_json();
  watch.finish();
  ASSERT_EQ(run.value("status", ""), "passed") << run.dump(2);
  auto logs = run_gantry(store_, {"logs", run["id"], "web"});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  std::size_t first = logs.out.find("served-by-www");
  ASSERT_NE(first, std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("served-by-www", first + 1), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("service www ready (tcp probe"), std::string::npos) << logs.out;
  auto service_logs = run_gantry(store_, {"logs", run["id"], "web", "--service", "www"});
  EXPECT_EQ(service_logs.exit_code, 0) << service_logs.err;
  EXPECT_NE(service_logs.out.find("starting"), std::string::npos) << service_logs.out;
  EXPECT_GE(watch.seen(), 2u);  // the stage's container and the service's
  EXPECT_TRUE(watch.left(store_).empty()) << joined(watch.left(store_));

  // The service's definition is part of the stage key: same file, cached;
  // another service command, the stage runs again.
  auto again = run_json();
  EXPECT_TRUE(stage(again, "web").value("cached", false));
  std::string changed = kHttpd;
  changed.replace(changed.find("echo starting"), 13, "echo starting2");
  commit({{".gantry.yml", changed}});
  auto rerun = run_json();
  EXPECT_FALSE(stage(rerun, "web").value("cached", true));
}

TEST_F(RunServicesTest, AServiceThatNeverGetsReady_FailsTheStageWithinItsTimeout_WithItsLogTail) {
  commit({{".gantry.yml",
           "stages:\n"
           "  never:\n"
           "    image: busybox\n"
           "    run: echo the stage must not start; touch /started\n"
           "    services:\n"
           "      - name: db\n"
           "        image: busybox\n"
           "        command: 'echo db is warming up; echo still not listening; exec sleep 600'\n"
           "        ready: {tcp: 5432}\n"
           "        timeout: 2s\n"}});
  ContainerWatcher watch(store_);
  auto started = std::chrono::steady_clock::now();
  auto run = run_json({}, {}, 1);
  auto took = std::chrono::steady_clock::now() - started;
  watch.finish();
  const auto& st = stage(run, "never");
  EXPECT_EQ(st.value("status", ""), "failed");
  std::string detail = st.value("detail", "");
  EXPECT_NE(detail.find("service db was not ready after 2"), std::string::npos) << detail;
  EXPECT_NE(detail.find("tcp probe"), std::string::npos) << detail;
  EXPECT_NE(detail.find("still not listening"), std::string::npos) << detail;
  EXPECT_LT(took, std::chrono::seconds(20));  // the sleep 600 was stopped
  auto logs = run_gantry(store_, {"logs", run["id"], "never"});
  EXPECT_EQ(logs.out.find("the stage must not start"), std::string::npos) << logs.out;
  EXPECT_GE(watch.seen(), 1u);
  EXPECT_TRUE(watch.left(store_).empty()) << joined(watch.left(store_));
}

TEST_F(RunServicesTest, ServiceThatExitsEarly_FailsTheStageWithItsExitCode) {
  commit({{".gantry.yml",
           "stages:\n"
           "  s:\n"
           "    image: busybox\n"
           "    run: 'true'\n"
           "    services:\n"
           "      - {name: crash, image: busybox, command: 'echo bad config; exit 3', ready: {tcp: 1}, timeout: 30s}\n"}});
  auto run = run_json({}, {}, 1);
  std::string detail = stage(run, "s").value("detail", "");
  EXPECT_NE(detail.find("service crash exited with code 3 before it was ready"), std::string::npos) << detail;
  EXPECT_NE(detail.find("bad config"), std::string::npos) << detail;
}

TEST_F(RunServicesTest, LogAndHttpProbes) {
  commit({{".gantry.yml",
           "stages:\n"
           "  s:\n"
           "    image: busybox\n"
           "    run: wget -q -O - http://h:9000/ok.txt && echo ping | nc -w 2 l 9100 | grep -q ping\n"
           "    services:\n"
           "      - name: h\n"
           "        image: busybox\n"
           "        command: 'mkdir /w && echo fine > /w/ok.txt && exec httpd -f -p 9000 -h /w'\n"
           "        ready: {http: 'http://h:9000/ok.txt'}\n"
           "      - name: l\n"
           "        image: busybox\n"
           "        command: 'sleep 0.5; echo accepting now; exec nc -ll -p 9100 -e cat'\n"
           "        ready: {log: accepting now}\n"}});
  auto run = run_json();
  EXPECT_EQ(run.value("status", ""), "passed") << run.dump(2);
}

TEST_F(RunServicesTest, KilledRunner_LeavesNothingAfterTheNextCommand) {
  commit({{".gantry.yml",
           "stages:\n"
           "  long:\n"
           "    image: busybox\n"
           "    run: sleep 600\n"
           "    services:\n"
           "      - {name: svc, image: busybox, command: 'exec sleep 600'}\n"}});
  ContainerWatcher watch(store_);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<std::string> args = {gantry_binary(), "--store", store_};
    for (const auto& f : global_flags()) args.push_back(f);
    for (const char* a : {"run", "--json"}) args.push_back(a);
    args.push_back(repo_);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  // Wait until the stage's container and the service's run.
  bool both = false;
  for (int i = 0; i < 300 && !both; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    both = watch.seen() >= 2;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(both) << "the stage and its service never both ran";
  // The containers die with the runner (PDEATHSIG); the next command sweeps.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  watch.finish();
  auto ls = run_gantry(store_, {"exec", "busybox", "true"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_TRUE(watch.left(store_).empty()) << joined(watch.left(store_));
}

}  // namespace
}  // namespace gantry::testing
