// Discovery of the cgroup hierarchies, the choice of drivers per limit, and
// the lifetime of one container's cgroups.
#include "executor/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/file_util.h"
#include "executor/cgroup_drivers.h"

namespace gantry::executor {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  return out;
}

std::vector<Hierarchy> discover() {
  // /proc/self/cgroup: "id:controllers:path" ("0::path" for v2).
  std::vector<std::pair<std::vector<std::string>, std::string>> own;  // controllers → path
  std::string own_v2;
  bool have_v2_line = false;
  {
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line)) {
      auto a = line.find(':'), b = line.find(':', a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      std::string ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
      if (line.compare(0, a, "0") == 0 && ctrls.empty()) {
        own_v2 = path;
        have_v2_line = true;
      } else {
        own.emplace_back(split(ctrls, ','), path);
      }
    }
  }
  std::vector<Hierarchy> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    auto fields = split(line, ' ');
    auto dash = std::find(fields.begin(), fields.end(), "-");
    if (dash == fields.end() || fields.end() - dash < 4 || fields.size() < 5) continue;
    const std::string& root = fields[3];
    const std::string& mount_point = fields[4];
    const std::string& fstype = dash[1];
    auto rel = [&](const std::string& path) {
      std::string p = path;
      if (root != "/" && p.rfind(root, 0) == 0) p = p.substr(root.size());
      if (p == "/") p.clear();
      return mount_point + p;
    };
    if (fstype == "cgroup2" && have_v2_line) {
      Hierarchy h;
      h.v2 = true;
      h.own_dir = rel(own_v2);
      if (auto ctl = read_file(h.own_dir + "/cgroup.controllers")) {
        std::istringstream words(*ctl);
        std::string w;
        while (words >> w) h.controllers.push_back(w);
      }
      out.push_back(std::move(h));
    } else if (fstype == "cgroup") {
      auto opts = split(dash[3], ',');
      for (const auto& [ctrls, path] : own) {
        bool match = !ctrls.empty() && std::all_of(ctrls.begin(), ctrls.end(), [&](const std::string& c) {
          return std::find(opts.begin(), opts.end(), c) != opts.end();
        });
        if (!match) continue;
        Hierarchy h;
        h.controllers = ctrls;
        h.own_dir = rel(path);
        out.push_back(std::move(h));
        break;
      }
    }
  }
  return out;
}

bool has_controller(const Hierarchy& h, const std::string& c) {
  return std::find(h.controllers.begin(), h.controllers.end(), c) != h.controllers.end();
}

}  // namespace

const std::vector<Hierarchy>& cgroup_hierarchies() {
  static const std::vector<Hierarchy> hierarchies = discover();
  return hierarchies;
}

Status write_cgroup_file(const std::string& dir, const char* file, const std::string& value) {
  std::string path = dir + "/" + file;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return fail_sys("open", path);
  if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
    return fail_sys("write " + value + " to", path);
  return {};
}

// "key N" lines (memory.events, memory.oom_control), or the first number of
// the file when key is empty (memory.failcnt).
std::optional<long long> read_keyed_value(const std::string& path, const std::string& key) {
  auto text = read_file(path);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string k;
  long long v = 0;
  if (key.empty()) return (in >> v) ? std::optional<long long>(v) : std::nullopt;
  while (in >> k >> v)
    if (k == key) return v;
  return std::nullopt;
}

void kill_listed_procs(const std::string& dir) {
  auto text = read_file(dir + "/cgroup.procs");
  if (!text) return;
  std::istringstream in(*text);
  pid_t pid;
  while (in >> pid)
    if (pid > 0) ::kill(pid, SIGKILL);
}

Result<std::vector<std::unique_ptr<CgroupDriver>>> cgroup_drivers_for(const Limits& limits) {
  std::vector<std::unique_ptr<CgroupDriver>> drivers;
  // No limit, no cgroup (see below): not even /proc/self/mountinfo is read.
  if (!limits.memory_bytes && !limits.pids && !limits.cpus) return drivers;
  const auto& hs = cgroup_hierarchies();
  const Hierarchy* v2 = nullptr;
  for (const auto& h : hs)
    if (h.v2) v2 = &h;
  LimitSet v2_carries;
  struct Want {
    bool wanted;
    const char* controller;
    bool LimitSet::*flag;
    const char* what;
  };
  const Want wants[] = {{limits.memory_bytes.has_value(), "memory", &LimitSet::memory, "a memory limit"},
                        {limits.pids.has_value(), "pids", &LimitSet::pids, "a pids limit"},
                        {limits.cpus.has_value(), "cpu", &LimitSet::cpu, "a cpu limit"}};
  for (const auto& w : wants) {
    if (!w.wanted) continue;
    if (v2 && has_controller(*v2, w.controller)) {
      v2_carries.*(w.flag) = true;
      continue;
    }
    auto it = std::find_if(hs.begin(), hs.end(), [&](const Hierarchy& h) { return !h.v2 && has_controller(h, w.controller); });
    if (it == hs.end())
      return fail(ErrorKind::invalid_input, std::string("cannot apply ") + w.what + ": no cgroup v1 or v2 hierarchy has the " +
                                                w.controller + " controller");
    LimitSet carries;
    carries.*(w.flag) = true;
    drivers.push_back(make_cgroup_v1_driver(*it, carries));
  }
  // No cgroup at all without a limit that needs it: joining a cgroup costs a
  // cgroup_threadgroup_rwsem write (an RCU grace period, ~10 ms), and the pid
  // namespace already gathers and kills every process of the container.
  if (v2 && (v2_carries.memory || v2_carries.pids || v2_carries.cpu))
    drivers.insert(drivers.begin(), make_cgroup_v2_driver(*v2, v2_carries));
  return drivers;
}

Result<ContainerCgroups> ContainerCgroups::create(const std::string& id, const Limits& limits,
                                                  const std::string& record_file) {
  auto drivers = TRY(cgroup_drivers_for(limits));
  ContainerCgroups cg;
  if (drivers.empty()) return cg;
  UniqueFd record(::open(record_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!record) return fail_sys("open", record_file);
  for (auto& driver : drivers) {
    std::string dir = driver->dir_for("gantry-" + id);
    std::string line = dir + "\n";
    if (::write(record.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      return fail_sys("write", record_file);
    auto st = driver->create(dir, limits);
    if (!st) {
      ::rmdir(dir.c_str());
      return fail(std::move(st).error().context("creating the container's cgroup (" + driver->describe() + ")"));
    }
    std::string procs = dir + "/cgroup.procs";
    UniqueFd fd(::open(procs.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) {
      ::rmdir(dir.c_str());
      return fail_sys("open", procs);
    }
    cg.procs_fds_.push_back(std::move(fd));
    cg.entries_.push_back({std::move(driver), dir});
  }
  return cg;
}

ContainerCgroups::~ContainerCgroups() {
  if (!entries_.empty()) (void)remove();
}

bool ContainerCgroups::oom_killed() const {
  for (const auto& e : entries_)
    if (e.driver->oom_killed(e.dir)) return true;
  return false;
}

void ContainerCgroups::kill_all() const {
  for (const auto& e : entries_) e.driver->kill_all(e.dir);
}

Status ContainerCgroups::remove() {
  procs_fds_.clear();
  Status result;
  for (auto& e : entries_) {
    auto st = remove_cgroup_dir(e.dir);
    if (!st && result) result = std::move(st);
  }
  entries_.clear();
  return result;
}

Status remove_cgroup_dir(const std::string& dir) {
  using namespace std::chrono;
  auto deadline = steady_clock::now() + seconds(10);
  auto pause = microseconds(200);
  for (int attempt = 0;; ++attempt) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return {};
    if (errno != EBUSY || steady_clock::now() > deadline) return fail_sys("rmdir cgroup", dir);
    // Processes still dying (the pid namespace is being torn down): kill and retry.
    if (attempt > 0) {
      if (!write_cgroup_file(dir, "cgroup.kill", "1")) kill_listed_procs(dir);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, microseconds(50000));
  }
}

}  // namespace gantry::executor

namespace gantry::executor {

std::optional<std::string> rootless_cgroup_problem(const Limits& limits) {
  struct Want {
    bool wanted;
    const char* controller;
  };
  const Want wants[] = {{limits.memory_bytes.has_value(), "memory"},
                        {limits.pids.has_value(), "pids"},
                        {limits.cpus.has_value(), "cpu"}};
  const auto& hs = cgroup_hierarchies();
  for (const auto& w : wants) {
    if (!w.wanted) continue;
    // The driver cgroup_drivers_for() would pick: v2 first.
    const Hierarchy* chosen = nullptr;
    for (const auto& h : hs)
      if (h.v2 && has_controller(h, w.controller)) chosen = &h;
    if (!chosen)
      for (const auto& h : hs)
        if (!h.v2 && has_controller(h, w.controller) && !chosen) chosen = &h;
    if (!chosen) return std::string("no cgroup hierarchy has the ") + w.controller + " controller";
    // gantry makes the containers' cgroups in its own one (v2: and enables
    // the controllers for them): only a delegated cgroup lets it.
    std::string probe = chosen->v2 ? chosen->own_dir + "/cgroup.subtree_control" : chosen->own_dir;
    if (::access(probe.c_str(), W_OK) != 0)
      return "gantry's cgroup " + chosen->own_dir + " (" + w.controller + ") is not delegated to this user";
  }
  return std::nullopt;
}

}  // namespace gantry::executor
