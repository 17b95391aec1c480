#include "registry/progress.h"

#include <unistd.h>

#include <cstdio>

namespace gantry::registry {

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) {
    bytes /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

Progress::Progress(bool enabled) : enabled_(enabled && ::isatty(2)) {}

Progress::~Progress() {
  if (enabled_) {
    std::lock_guard lock(mutex_);
    draw(true);
  }
}

int Progress::add(std::string label, std::uint64_t total) {
  if (!enabled_) return -1;
  std::lock_guard lock(mutex_);
  lines_.push_back({std::move(label), total, 0, std::chrono::steady_clock::now(), {}, "waiting"});
  draw(true);
  return static_cast<int>(lines_.size()) - 1;
}

void Progress::update(int id, std::uint64_t done) {
  if (!enabled_ || id < 0) return;
  std::lock_guard lock(mutex_);
  auto& l = lines_[static_cast<std::size_t>(id)];
  if (l.state == "waiting") {
    l.state = "";
    l.start = std::chrono::steady_clock::now();
  }
  l.done = done;
  draw(false);
}

void Progress::finish(int id, std::string_view state) {
  if (!enabled_ || id < 0) return;
  std::lock_guard lock(mutex_);
  auto& l = lines_[static_cast<std::size_t>(id)];
  l.state = state;
  l.end = std::chrono::steady_clock::now();
  if (state == "done") l.done = l.total;
  draw(true);
}

void Progress::draw(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  std::string out;
  if (drawn_ > 0) out += "\x1b[" + std::to_string(drawn_) + "F";  // up to the first line
  for (const auto& l : lines_) {
    auto end = l.state.empty() || l.state == "waiting" ? now : l.end;
    double secs = std::chrono::duration<double>(end - l.start).count();
    char line[200];
    if (l.state == "waiting" || l.state == "exists" || l.state == "mounted") {
      std::snprintf(line, sizeof line, "%-22s %10s  %s", l.label.c_str(), human_bytes(double(l.total)).c_str(),
                    l.state.c_str());
    } else {
      double rate = secs > 0 ? double(l.done) / secs : 0;
      std::snprintf(line, sizeof line, "%-22s %10s / %-10s %10s/s  %s", l.label.c_str(),
                    human_bytes(double(l.done)).c_str(), human_bytes(double(l.total)).c_str(),
                    human_bytes(rate).c_str(), l.state.c_str());
    }
    out += line;
    out += "\x1b[K\n";
  }
  drawn_ = static_cast<int>(lines_.size());
  (void)!::write(2, out.data(), out.size());
}

}  // namespace gantry::registry
