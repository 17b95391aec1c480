// The live reporter: a view redrawn in place on a terminal.
//
// Above: permanent lines (phase headers, notes, every task once it ends, and
// the output tail of a failed task). Below: the live region, one line per
// running or waiting task with its clock, and the last lines of its output,
// plus a count of queued tasks. A ticker redraws the region ten times a
// second while something runs; the region is erased with ESC[nF ESC[J and
// drawn again, so it never scrolls the permanent lines away.
#include <sys/ioctl.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/units.h"
#include "runner/reporter.h"

namespace gantry::runner {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kTailLines = 3;         // shown under a running task
constexpr std::size_t kFailureTailLines = 12;  // printed when a task fails

struct Task {
  TaskId id;
  TaskState state = TaskState::queued;
  Clock::time_point started{};
  std::deque<std::string> tail;  // last kFailureTailLines lines
};

std::string_view icon(TaskState s) {
  switch (s) {
    case TaskState::queued: return "·";
    case TaskState::running: return "▸";
    case TaskState::cached: return "≡";
    case TaskState::passed: return "✔";
    case TaskState::failed: return "✘";
    case TaskState::skipped: return "-";
    case TaskState::waiting: return "⏸";
  }
  return "?";
}

std::string_view color(TaskState s) {
  switch (s) {
    case TaskState::passed: return "\x1b[32m";
    case TaskState::cached: return "\x1b[36m";
    case TaskState::failed: return "\x1b[31m";
    case TaskState::skipped: return "\x1b[2m";
    case TaskState::waiting: return "\x1b[33m";
    default: return "";
  }
}

// Control characters (a task's own escape sequences) would break the layout.
std::string printable(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  for (char c : line) out.push_back((static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c);
  return out;
}

// Cuts to `width` columns, counting UTF-8 code points as one column each.
std::string fit(const std::string& s, std::size_t width) {
  std::size_t cols = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (++cols > width) return s.substr(0, i);
  }
  return s;
}

bool is_active(TaskState s) { return s == TaskState::running || s == TaskState::queued; }

class LiveReporter final : public Reporter {
 public:
  LiveReporter() : ticker_([this](std::stop_token stop) { tick(stop); }) {}
  ~LiveReporter() override { finish(); }

  void phase(std::string_view title) override {
    std::lock_guard lock(mutex_);
    permanent_.push_back("\x1b[1m== " + std::string(title) + " ==\x1b[0m");
    redraw();
  }

  void task(const TaskId& id, TaskState state, std::chrono::milliseconds elapsed, std::string_view detail) override {
    std::lock_guard lock(mutex_);
    Task& t = find(id);
    if (state == TaskState::running && t.state != TaskState::running) t.started = Clock::now() - elapsed;
    t.state = state;
    if (!is_active(state)) {
      std::string line = std::string(color(state)) + std::string(icon(state)) + " [" + id.group + "] " + id.name +
                         "  " + std::string(to_string(state));
      if (state != TaskState::skipped && state != TaskState::waiting) line += " " + format_duration(elapsed);
      if (!detail.empty()) line += "  (" + printable(detail) + ")";
      line += "\x1b[0m";
      permanent_.push_back(std::move(line));
      if (state == TaskState::failed) {
        for (const auto& l : t.tail) permanent_.push_back("\x1b[2m    | " + l + "\x1b[0m");
      }
      std::erase_if(tasks_, [&](const Task& x) { return x.id.group == id.group && x.id.name == id.name; });
    }
    redraw();
  }

  void output(const TaskId& id, std::string_view line) override {
    std::lock_guard lock(mutex_);
    Task& t = find(id);
    t.tail.push_back(printable(line));
    while (t.tail.size() > kFailureTailLines) t.tail.pop_front();
    dirty_ = true;  // the ticker redraws; a chatty task must not redraw per line
  }

  void note(std::string_view message) override {
    std::lock_guard lock(mutex_);
    permanent_.push_back(printable(message));
    redraw();
  }

  void finish() override {
    if (ticker_.joinable()) {
      ticker_.request_stop();
      wake_.notify_all();
      ticker_.join();
    }
    std::lock_guard lock(mutex_);
    redraw();
    std::fflush(stdout);
  }

 private:
  Task& find(const TaskId& id) {
    for (auto& t : tasks_)
      if (t.id.group == id.group && t.id.name == id.name) return t;
    tasks_.push_back(Task{id});
    return tasks_.back();
  }

  std::size_t width() const {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10) return ws.ws_col;
    return 100;
  }

  // Called with mutex_ held.
  void redraw() {
    std::string out;
    if (drawn_lines_ > 0) out += "\x1b[" + std::to_string(drawn_lines_) + "F\x1b[J";
    std::size_t cols = width() - 1;
    for (auto& line : permanent_) out += line + "\n";
    permanent_.clear();
    std::size_t lines = 0, queued = 0;
    auto now = Clock::now();
    for (const auto& t : tasks_) {
      if (t.state == TaskState::queued) {
        ++queued;
        continue;
      }
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - t.started);
      out += fit(std::string(icon(t.state)) + " [" + t.id.group + "] " + t.id.name + "  " + format_duration(ms), cols) +
             "\n";
      ++lines;
      std::size_t from = t.tail.size() > kTailLines ? t.tail.size() - kTailLines : 0;
      for (std::size_t i = from; i < t.tail.size(); ++i) {
        out += "\x1b[2m" + fit("    " + t.tail[i], cols) + "\x1b[0m\n";
        ++lines;
      }
    }
    if (queued > 0) {
      out += "\x1b[2m  " + std::to_string(queued) + " queued\x1b[0m\n";
      ++lines;
    }
    drawn_lines_ = lines;
    dirty_ = false;
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
  }

  void tick(std::stop_token stop) {
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
      wake_.wait_for(lock, std::chrono::milliseconds(100));
      if (stop.stop_requested()) break;
      bool running = false;
      for (const auto& t : tasks_) running = running || t.state == TaskState::running;
      if (running || dirty_) redraw();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Task> tasks_;
  std::vector<std::string> permanent_;
  std::size_t drawn_lines_ = 0;
  bool dirty_ = false;
  std::jthread ticker_;  // last: started after every other member exists
};

}  // namespace

std::unique_ptr<Reporter> make_live_reporter() { return std::make_unique<LiveReporter>(); }

}  // namespace gantry::runner
