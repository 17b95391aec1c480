#include "server/run_supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "cache/image_store.h"
#include "cache/meta_db.h"  // before store.h: Store holds a unique_ptr<ImageStore>
#include "cache/metadata.h"
#include "cache/run_lock.h"
#include "common/file_util.h"
#include "common/unique_fd.h"
#include "server/views.h"

namespace gantry::server {

namespace {

constexpr auto kPollEvery = std::chrono::milliseconds(150);

std::shared_ptr<spdlog::logger> serve_log() {
  auto log = spdlog::get("serve");
  return log ? log : spdlog::default_logger();
}

// The last "gantry: ..." line the child printed: why it failed before it
// recorded the run (an unknown revision, a bad pipeline file, ...).
std::string child_error(const std::string& log_path, int wait_status) {
  std::string why;
  if (auto text = read_file(log_path)) {
    std::size_t end = text->size();
    while (end > 0) {
      auto start = text->rfind('\n', end - 1);
      start = start == std::string::npos ? 0 : start + 1;
      std::string_view line(text->data() + start, end - start);
      if (line.starts_with("gantry: ")) {
        why = std::string(line.substr(8));
        break;
      }
      if (start == 0) break;
      end = start - 1;
    }
  }
  if (why.empty()) {
    if (WIFSIGNALED(wait_status)) why = "the run's process was killed by signal " + std::to_string(WTERMSIG(wait_status));
    else why = "the run's process exited with " + std::to_string(WEXITSTATUS(wait_status)) + " before recording the run";
  }
  return why;
}

}  // namespace

RunSupervisor::RunSupervisor(cache::Store& store, Backend& backend, EventHub& events, int max_runs)
    : store_(store), backend_(backend), events_(events), max_runs_(max_runs < 1 ? 1 : max_runs) {}

RunSupervisor::~RunSupervisor() {
  if (thread_.joinable()) drain(std::chrono::milliseconds(0));
}

Status RunSupervisor::recover() {
  cache::RunQueue queue(store_);
  auto was_running = TRY(queue.in_state("running"));
  for (const auto& entry : was_running) {
    // Its process died with the last server (PR_SET_PDEATHSIG); wait until
    // the kernel has released the run's lock.
    for (int i = 0; i < 100; ++i) {
      auto live = cache::run_is_live(store_, entry.id);
      if (!live || !*live) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  TRY(backend_.recover_dead_runs());
  for (const auto& entry : was_running) {
    serve_log()->warn("run {}: interrupted (the server stopped while it ran)", entry.id);
    TRY(queue.finish(entry.id, "interrupted", "the server stopped while the run ran; POST /api/v1/runs/" +
                                                  entry.id + "/retry to run it again"));
  }
  cache::Metadata& envs = store_.metadata();
  auto newest = TRY(envs.promotion_history({.limit = 1}));
  last_promotion_ = newest.empty() ? 0 : newest.front().id;
  auto queued = TRY(queue.in_state("queued"));
  if (!queued.empty()) serve_log()->info("{} queued run(s) resume", queued.size());
  return {};
}

void RunSupervisor::start() {
  thread_ = std::jthread([this](std::stop_token stop) { loop(stop); });
}

Status RunSupervisor::enqueue(cache::QueueEntry& entry) {
  cache::RunQueue queue(store_);
  entry.id = cache::new_run_id(store_.clock().now_ms());
  entry.state = "queued";
  // Ids carry the second and a random suffix: retry on the rare collision.
  for (int attempt = 0;; ++attempt) {
    auto st = queue.enqueue(entry);
    if (st) break;
    if (attempt >= 5) return st;
    entry.id = cache::new_run_id(store_.clock().now_ms());
  }
  events_.publish("run", summary_json(summary_of(entry)));
  supersede_older(entry);
  wake();
  return {};
}

void RunSupervisor::supersede_older(const cache::QueueEntry& newer) {
  if (newer.branch.empty() || newer.kind != "run") return;
  cache::Metadata& runs = store_.metadata();
  std::lock_guard lock(mutex_);
  for (const auto& [pid, child] : children_) {
    const cache::QueueEntry& older = child.entry;
    if (older.id == newer.id || older.repo_name != newer.repo_name || older.branch != newer.branch) continue;
    // Only once the run is recorded: its process handles SIGUSR1 from then on
    // (before, the signal's default action would end it).
    auto run = runs.find_run(older.id);
    if (!run || run->id != older.id || run->status != cache::RunStatus::running) continue;
    serve_log()->info("run {}: superseded by run {} of {} {} (its interruptible stages are cancelled)", older.id,
                      newer.id, newer.repo_name, newer.branch);
    ::kill(pid, SIGUSR1);
  }
}

Result<std::string> RunSupervisor::cancel(const std::string& id) {
  cache::RunQueue queue(store_);
  if (TRY(queue.cancel_queued(id))) {
    auto entry = TRY(queue.get(id));
    if (entry) events_.publish("run", summary_json(summary_of(*entry)));
    return std::string("cancelled");
  }
  {
    std::lock_guard lock(mutex_);
    for (auto& [pid, child] : children_)
      if (child.entry.id == id) {
        child.cancel_requested = true;
        ::kill(pid, SIGTERM);  // gantry run cancels its containers and records the run
        return std::string("cancelling");
      }
  }
  auto entry = TRY(queue.get(id));
  cache::Metadata& runs = store_.metadata();
  auto run = runs.find_run(id);
  if (!run && !entry) return fail(ErrorKind::not_found, "run " + id + " not found");
  if (run && run->id != id) return fail(ErrorKind::not_found, "run " + id + " not found (give the whole id)");
  if (run && run->status == cache::RunStatus::running)
    return fail(ErrorKind::conflict, "run " + id + " is running in a process this server did not start");
  const std::string status =
      run ? std::string(to_string(run->status)) : cache::queue_entry_status(entry->state, entry->error);
  return fail(ErrorKind::conflict, "run " + id + " has ended (" + status + ")");
}

void RunSupervisor::track(const std::string& run_id) {
  std::lock_guard lock(mutex_);
  tracked_.insert(run_id);
}

void RunSupervisor::untrack(const std::string& run_id) {
  poll_changes();  // its last changes first
  std::lock_guard lock(mutex_);
  tracked_.erase(run_id);
  seen_.erase(run_id);
}

std::optional<cache::StageResult> RunSupervisor::watched_stage(const std::string& run_id, const std::string& stage) {
  std::lock_guard lock(mutex_);
  auto it = seen_.find(run_id);
  if (it == seen_.end()) return std::nullopt;
  for (const auto& s : it->second.stages)
    if (s.stage == stage) return s;
  return std::nullopt;
}

std::size_t RunSupervisor::running() {
  std::lock_guard lock(mutex_);
  return children_.size();
}

void RunSupervisor::wake() {
  std::lock_guard lock(mutex_);
  woken_ = true;
  cv_.notify_all();
}

void RunSupervisor::loop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    reap();
    start_queued();
    if (std::chrono::steady_clock::now() - last_poll_ >= kPollEvery) poll_changes();
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return woken_ || stop.stop_requested(); });
    woken_ = false;
  }
  // Children still here (drain gave up on them) die with this thread; reap them.
  reap();
}

void RunSupervisor::start_queued() {
  std::lock_guard db(store_.db().mutex());  // see serve.cpp: one user of the connection at a time
  {
    std::lock_guard lock(mutex_);
    if (draining_ || children_.size() >= static_cast<std::size_t>(max_runs_)) return;
  }
  cache::RunQueue queue(store_);
  auto queued = queue.in_state("queued");
  if (!queued) {
    serve_log()->error("reading the run queue: {}", queued.error().message());
    return;
  }
  for (auto& entry : *queued) {
    {
      std::lock_guard lock(mutex_);
      if (draining_ || children_.size() >= static_cast<std::size_t>(max_runs_)) return;
    }
    if (auto st = spawn(entry); !st) {
      serve_log()->error("run {}: {}", entry.id, st.error().message());
      (void)queue.finish(entry.id, "done", st.error().message());
      publish_run(entry.id);
    }
  }
}

Status RunSupervisor::spawn(cache::QueueEntry entry) {
  const std::vector<std::string> args = backend_.run_command(entry);
  const std::string dir = store_.paths().run_dir(entry.id);
  TRY(make_dirs(dir));
  const std::string log_path = dir + "/serve.log";
  UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!log) return fail_sys("open", log_path);
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null) return fail_sys("open", "/dev/null");
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return fail_sys("fork", args.front());
  if (pid == 0) {
    // Async-signal-safe only from here to exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(null.get(), 0);
    ::dup2(log.get(), 1);
    ::dup2(log.get(), 2);
    ::close_range(3, ~0U, 0);  // the server's sockets are not the run's
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  cache::RunQueue queue(store_);
  auto started = queue.start(entry.id, pid);
  if (!started || !*started) {  // cancelled meanwhile
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    if (!started) return std::unexpected(started.error());
    return {};
  }
  serve_log()->info("run {}: started ({} {}), pid {}", entry.id, entry.repo_name, entry.rev, pid);
  entry.state = "running";
  entry.pid = pid;
  {
    std::lock_guard lock(mutex_);
    children_.emplace(pid, Child{.entry = entry});
  }
  publish_run(entry.id);
  return {};
}

void RunSupervisor::reap() {
  std::vector<std::pair<Child, int>> ended;
  {
    std::lock_guard lock(mutex_);
    for (auto it = children_.begin(); it != children_.end();) {
      int status = 0;
      pid_t r = ::waitpid(it->first, &status, WNOHANG);
      if (r == it->first || (r < 0 && errno == ECHILD)) {
        ended.emplace_back(std::move(it->second), status);
        it = children_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [child, status] : ended) on_exit(std::move(child), status);
}

void RunSupervisor::on_exit(Child child, int wait_status) {
  const std::string& id = child.entry.id;
  std::unique_lock db(store_.db().mutex());
  cache::RunQueue queue(store_);
  cache::Metadata& runs = store_.metadata();
  auto run = runs.find_run(id);
  const bool recorded = run && run->id == id;
  std::string error;
  if (!recorded) error = child_error(store_.paths().run_dir(id) + "/serve.log", wait_status);
  if (child.stopped_by_shutdown) {
    const std::string why = "the server stopped (SIGTERM) and cancelled the run after its grace period; POST "
                            "/api/v1/runs/" + id + "/retry to run it again";
    if (recorded && run->status != cache::RunStatus::passed && run->status != cache::RunStatus::waiting) {
      Status st = runs.set_run_status(id, cache::RunStatus::interrupted, "", why, true);
      for (int i = 0; !st && i < 100; ++i) {  // SQLITE_BUSY on the shared connection: try again
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        st = runs.set_run_status(id, cache::RunStatus::interrupted, "", why, true);
      }
      if (!st) serve_log()->error("run {}: {}", id, st.error().message());
    }
    (void)queue.finish(id, "interrupted", recorded ? "" : why);
  } else {
    if (auto st = queue.finish(id, "done", error); !st) serve_log()->error("run {}: {}", id, st.error().message());
  }
  db.unlock();
  {
    std::lock_guard lock(mutex_);
    tracked_.insert(id);  // one last look at its stages
  }
  poll_changes();
  {
    std::lock_guard lock(mutex_);
    tracked_.erase(id);
    seen_.erase(id);
  }
  const cache::RunStatus ended_as = child.stopped_by_shutdown ? cache::RunStatus::interrupted
                                    : recorded                  ? run->status
                                                                : cache::RunStatus::failed;
  serve_log()->info("run {}: ended ({})", id,
                    recorded ? std::string(to_string(ended_as)) : "failed: " + error);
  publish_run(id);
  wake();
}

void RunSupervisor::publish_run(const std::string& id) {
  std::lock_guard db(store_.db().mutex());
  cache::RunQueue queue(store_);
  cache::Metadata& runs = store_.metadata();
  auto entry = queue.get(id);
  const cache::QueueEntry* e = entry && *entry ? &**entry : nullptr;
  auto run = runs.find_run(id);
  if (run && run->id == id) events_.publish("run", summary_json(summary_of(*run, e)));
  else if (e) events_.publish("run", summary_json(summary_of(*e)));
}

void RunSupervisor::poll_changes() {
  std::lock_guard poll_lock(poll_mutex_);
  std::lock_guard db(store_.db().mutex());
  last_poll_ = std::chrono::steady_clock::now();
  std::set<std::string> ids;
  {
    std::lock_guard lock(mutex_);
    ids = tracked_;
    for (const auto& [pid, child] : children_) ids.insert(child.entry.id);
  }
  cache::Metadata& runs = store_.metadata();
  for (const auto& id : ids) {
    auto run = runs.find_run(id);
    if (!run || run->id != id) continue;  // not recorded yet
    std::vector<nlohmann::json> stage_events;
    bool status_changed = false;
    {
      std::lock_guard lock(mutex_);
      auto& before = seen_[id];
      status_changed = before.id.empty() || before.status != run->status;
      for (const auto& s : run->stages) {
        const cache::StageResult* old = nullptr;
        for (const auto& o : before.stages)
          if (o.stage == s.stage) old = &o;
        if (!old || old->status != s.status || old->cached != s.cached) stage_events.push_back(stage_event_json(s));
      }
      before = *run;
    }
    for (const auto& ev : stage_events) events_.publish("stage", ev);
    if (status_changed) publish_run(id);
  }
  cache::Metadata& envs = store_.metadata();
  if (auto events = envs.promotion_history({.limit = 50})) {
    for (auto it = events->rbegin(); it != events->rend(); ++it) {
      if (it->id <= last_promotion_) continue;
      last_promotion_ = it->id;
      events_.publish("promotion", cache::promotion_event_json(*it));
    }
  }
}

void RunSupervisor::drain(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mutex_);
    draining_ = true;
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (running() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  {
    std::lock_guard lock(mutex_);
    for (auto& [pid, child] : children_) {
      serve_log()->warn("run {}: cancelling it (the grace period is over)", child.entry.id);
      child.stopped_by_shutdown = true;
      ::kill(pid, SIGTERM);
    }
  }
  // gantry run stops its containers (SIGTERM, then SIGKILL after their grace).
  const auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (running() > 0 && std::chrono::steady_clock::now() < hard)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  thread_.request_stop();
  wake();
  if (thread_.joinable()) thread_.join();
}

}  // namespace gantry::server
