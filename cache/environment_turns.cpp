#include "cache/environment_turns.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "cache/run_lock.h"
#include "cache/store.h"
#include "common/digest.h"
#include "common/file_util.h"
#include "common/unique_fd.h"

namespace gantry::cache {

namespace {

std::string queue_path(Store& store, const std::string& project, const std::string& environment) {
  return store.paths().environment_queue(Digest::of(project + '\n' + environment).hex().substr(0, 32));
}

// The queue file, open and flock'ed (exclusive) while this lives.
class LockedQueue {
 public:
  static Result<LockedQueue> open(const std::string& path) {
    auto slash = path.rfind('/');
    TRY(make_dirs(path.substr(0, slash)));
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd) return fail_sys("open", path);
    while (::flock(fd.get(), LOCK_EX) != 0)
      if (errno != EINTR) return fail_sys("flock", path);
    return LockedQueue(std::move(fd), path);
  }

  Result<std::vector<std::string>> read() const {
    std::string text;
    char buf[4096];
    if (::lseek(fd_.get(), 0, SEEK_SET) < 0) return fail_sys("lseek", path_);
    for (;;) {
      ssize_t n = ::read(fd_.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail_sys("read", path_);
      if (n == 0) break;
      text.append(buf, static_cast<std::size_t>(n));
      if (text.size() > (1u << 20)) return fail(ErrorKind::corrupt, path_ + ": larger than 1 MiB");
    }
    std::vector<std::string> ids;
    std::size_t start = 0;
    while (start < text.size()) {
      auto end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      if (end > start) ids.push_back(text.substr(start, end - start));
      start = end + 1;
    }
    return ids;
  }

  Status write(const std::vector<std::string>& ids) const {
    std::string text;
    for (const auto& id : ids) text += id + "\n";
    if (::ftruncate(fd_.get(), 0) != 0) return fail_sys("truncate", path_);
    if (::pwrite(fd_.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
      return fail_sys("write", path_);
    return {};
  }

 private:
  LockedQueue(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

// The queue without the runs whose process died (written back when changed).
Result<std::vector<std::string>> live_queue(Store& store, const LockedQueue& queue) {
  auto ids = TRY(queue.read());
  std::vector<std::string> live;
  for (const auto& id : ids)
    if (TRY(run_is_live(store, id))) live.push_back(id);
  if (live.size() != ids.size()) TRY(queue.write(live));
  return live;
}

Status leave(const std::string& path, const std::string& run_id) {
  auto queue = TRY(LockedQueue::open(path));
  auto ids = TRY(queue.read());
  ids.erase(std::remove(ids.begin(), ids.end(), run_id), ids.end());
  return queue.write(ids);
}

}  // namespace

Result<EnvironmentTurn> EnvironmentTurn::take(Store& store, const std::string& project, const std::string& environment,
                                              const std::string& run_id, int slots, std::stop_token stop,
                                              const std::function<void(const std::vector<std::string>&)>& on_wait,
                                              std::chrono::milliseconds poll) {
  const std::string path = queue_path(store, project, environment);
  {
    auto queue = TRY(LockedQueue::open(path));
    auto ids = TRY(live_queue(store, queue));
    if (std::find(ids.begin(), ids.end(), run_id) == ids.end()) {
      ids.push_back(run_id);
      TRY(queue.write(ids));
    }
  }
  EnvironmentTurn turn(path, run_id);  // leaves the queue on every return below
  std::vector<std::string> last_ahead;
  for (;;) {
    std::vector<std::string> ahead;
    {
      auto queue = TRY(LockedQueue::open(path));
      auto ids = TRY(live_queue(store, queue));
      auto me = std::find(ids.begin(), ids.end(), run_id);
      if (me == ids.end()) {  // dropped (our run lock was free?): queue again at the end
        ids.push_back(run_id);
        TRY(queue.write(ids));
        me = ids.end() - 1;
      }
      if (me - ids.begin() < slots) return turn;
      ahead.assign(ids.begin(), me);
    }
    if (ahead != last_ahead && on_wait) on_wait(ahead);
    last_ahead = ahead;
    if (stop.stop_requested())
      return fail(ErrorKind::conflict, "cancelled while waiting for " + environment + " (run " + ahead.front() +
                                           " holds it)");
    std::this_thread::sleep_for(poll);
  }
}

EnvironmentTurn::EnvironmentTurn(EnvironmentTurn&& other) noexcept
    : path_(std::move(other.path_)), run_id_(std::move(other.run_id_)) {
  other.run_id_.clear();
}

EnvironmentTurn::~EnvironmentTurn() {
  if (!run_id_.empty()) (void)leave(path_, run_id_);
}

Result<std::vector<std::string>> environment_queue(Store& store, const std::string& project,
                                                   const std::string& environment) {
  auto queue = TRY(LockedQueue::open(queue_path(store, project, environment)));
  return live_queue(store, queue);
}

}  // namespace gantry::cache
