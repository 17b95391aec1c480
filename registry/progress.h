// Per-blob transfer progress on a terminal: one line per blob with bytes
// moved, total and rate, redrawn in place on stderr (at most 10 times a
// second). Disabled (every call a no-op) when stderr is not a terminal.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace gantry::registry {

class Progress {
 public:
  // enabled && isatty(2) turns the view on.
  explicit Progress(bool enabled);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  bool enabled() const { return enabled_; }
  int add(std::string label, std::uint64_t total);
  void update(int id, std::uint64_t done);
  void finish(int id, std::string_view state);  // "done", "exists", "mounted", "failed"

 private:
  struct Line {
    std::string label;
    std::uint64_t total = 0;
    std::uint64_t done = 0;
    std::chrono::steady_clock::time_point start;
    std::chrono::steady_clock::time_point end;
    std::string state;
  };
  void draw(bool force);
  bool enabled_;
  std::mutex mutex_;
  std::vector<Line> lines_;
  int drawn_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

// "12.3 MB", "1.0 GB", "512 B".
std::string human_bytes(double bytes);

}  // namespace gantry::registry
