#include "cache/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <random>

#include "cache/image_store.h"  // before store.h: Store holds a unique_ptr<ImageStore>
#include "cache/metadata.h"
#include "cache/store.h"
#include "common/file_util.h"

namespace gantry::cache {

std::string new_run_id(std::int64_t now_ms) {
  std::time_t t = static_cast<std::time_t>(now_ms / 1000);
  std::tm utc{};
  ::gmtime_r(&t, &utc);
  std::random_device rd;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d-%02d%02d%02d-%04x", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<unsigned>(rd() & 0xffff));
  return buf;
}

Result<RunLock> RunLock::acquire(Store& store, const std::string& run_id) {
  const StorePaths& paths = store.paths();
  TRY(make_dirs(paths.run_dir(run_id)));
  const std::string path = paths.run_lock(run_id);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return fail_sys("open", path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return fail(ErrorKind::conflict, "run " + run_id + " is still running (another gantry process holds " + path + ")");
    return fail_sys("flock", path);
  }
  return RunLock(std::move(fd));
}

Result<bool> run_is_live(Store& store, const std::string& run_id) {
  const std::string path = store.paths().run_lock(run_id);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return false;  // never locked: a run of a gantry before locks, or one that died first
    return fail_sys("open", path);
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return false;  // released when fd closes
  if (errno == EWOULDBLOCK) return true;
  return fail_sys("flock", path);
}

Result<std::vector<std::string>> mark_dead_runs_interrupted(Store& store) {
  Metadata& meta = store.metadata();
  std::vector<std::string> out;
  for (const auto& id : TRY(meta.running_runs())) {
    // Held while the rows change: the run cannot come back to life meanwhile.
    const std::string path = store.paths().run_lock(id);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // live
    if (!fd && meta.shared()) continue;  // another host's run (a shared record): not ours to judge
    const std::string error =
        "interrupted: the gantry process running it ended before the run finished (killed?); gantry retry " + id;
    if (TRY_CTX(meta.interrupt_run(id, error), "marking run " + id + " interrupted")) out.push_back(id);
  }
  return out;
}

}  // namespace gantry::cache
