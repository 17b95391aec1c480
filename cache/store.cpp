#include "cache/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "cache/image_store.h"
#include "cache/sqlite_metadata.h"
#include "cache/store_modes.h"
#include <spdlog/spdlog.h>

namespace gantry::cache {

namespace {

Result<UniqueFd> open_lock_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return fail_sys("open lock", path);
  return fd;
}

Status flock_wait(int fd, int op, const std::string& path) {
  while (::flock(fd, op) != 0) {
    if (errno == EINTR) continue;
    return fail_sys("flock", path);
  }
  return {};
}

}  // namespace

Store::Store(std::string root) : paths_(std::move(root)), blobs_(paths_, "") {}

Result<std::unique_ptr<Store>> Store::open(const std::string& dir, StoreLock lock, StoreScratch scratch) {
  if (dir.empty()) return fail(ErrorKind::usage, "no store directory given");
  std::unique_ptr<Store> store(new Store(dir));
  const StorePaths& p = store->paths_;
  // Private from the first byte (store_modes.h): the parents as usual, the
  // store's own dirs 0700; an existing store's looser modes are tightened.
  if (auto slash = p.root().find_last_of('/'); slash != std::string::npos && slash > 0)
    TRY_CTX(make_dirs(p.root().substr(0, slash), 0755), "store " + dir);
  // (Checked before the missing dirs are made: fsck reports what it found.)
  if (::mkdir(p.root().c_str(), kStoreDirMode) != 0 && errno != EEXIST) return fail_sys("mkdir", p.root());
  store->mode_findings_ = TRY_CTX(check_store_modes(p, true), "store " + dir);
  for (const std::string& line : store->mode_findings_) spdlog::warn("store mode: {}", line);
  TRY_CTX(make_private_dir(p.root(), true), "store " + dir);
  for (const std::string& d : {p.blobs_root(), p.blobs_dir(), p.layers_dir(), p.runs_dir(), p.tmp_root()})
    TRY_CTX(make_private_dir(d, false), "store " + dir);

  // Store-wide lock: shared for every command, exclusive for gc.
  store->store_lock_ = TRY(open_lock_file(p.lock_file()));
  store->lock_mode_ = lock;
  if (lock == StoreLock::exclusive) {
    if (::flock(store->store_lock_.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) return fail_sys("flock", p.lock_file());
      spdlog::warn("waiting for the other gantry processes using {} to finish", dir);
      TRY(flock_wait(store->store_lock_.get(), LOCK_EX, p.lock_file()));
    }
  } else {
    TRY(flock_wait(store->store_lock_.get(), LOCK_SH, p.lock_file()));
  }

  if (scratch == StoreScratch::session) {
    TRY(store->start_session());
    TRY(store->sweep_tmp());
  } else {
    // Blob temp files go to tmp/ itself until a session starts: same filesystem.
    store->blobs_ = BlobStore(store->paths_, p.tmp_root());
  }
  store->db_ = TRY_CTX(MetaDb::open(p.meta_db()), "store " + dir);
  store->metadata_ = std::make_unique<SqliteMetadata>(*store->db_, store->clock_);
  return store;
}

// This process's scratch dir: lock first under a name the sweeper ignores,
// then publish the lock, then create the dir.
// A sweeper may take a pending lock in the instant between its creation
// and our flock (it then removes the file): the rename fails and we retry.
Status Store::start_session() const {
  const StorePaths& p = paths_;
  for (int attempt = 0;; ++attempt) {
    session_ = unique_suffix();
    std::string pending = p.session_pending_lock(session_);
    session_lock_ = UniqueFd(::open(pending.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!session_lock_) return fail_sys("create", pending);
    TRY(flock_wait(session_lock_.get(), LOCK_EX, pending));
    if (::rename(pending.c_str(), p.session_lock(session_).c_str()) == 0) break;
    if (errno != ENOENT || attempt >= 10) return fail_sys("rename", pending);
  }
  tmp_dir_ = p.session_dir(session_);  // from here on the destructor removes the session
  if (::mkdir(tmp_dir_.c_str(), 0700) != 0) return fail_sys("mkdir", tmp_dir_);
  blobs_ = BlobStore(paths_, tmp_dir_);
  return {};
}

Store::~Store() {
  close_metadata();
  if (!tmp_dir_.empty()) {
    (void)remove_tree(tmp_dir_);
    ::unlink(paths_.session_lock(session_).c_str());
  }
}

void Store::set_metadata(std::unique_ptr<Metadata> metadata) { metadata_ = std::move(metadata); }

void Store::close_metadata() {
  images_.reset();
  metadata_.reset();
  db_.reset();
}

ImageStore& Store::images() {
  if (!images_) images_ = std::make_unique<ImageStore>(*this);
  return *images_;
}

Result<TempDir> Store::make_temp_dir(std::string_view prefix) const {
  if (tmp_dir_.empty()) TRY_CTX(start_session(), "store " + paths_.root() + ": scratch dir");  // StoreScratch::none
  return TempDir::create(tmp_dir_, prefix);
}

Result<int> Store::sweep_tmp() const {
  const std::string root = paths_.tmp_root();
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(root.c_str()), ::closedir);
  if (!dir) return fail_sys("opendir", root);
  std::vector<std::string> dead;
  std::vector<std::string> stale_pending;
  while (dirent* e = ::readdir(dir.get())) {
    std::string name = e->d_name;
    if (name.size() > 5 && name.ends_with(".lock")) {
      std::string session = name.substr(0, name.size() - 5);
      if (session == session_) continue;
      UniqueFd fd(::open(paths_.tmp_entry(name).c_str(), O_RDWR | O_CLOEXEC));
      if (!fd) continue;  // swept by someone else meanwhile
      if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) dead.push_back(session);
    } else if (name.ends_with(".locking")) {
      // A process died between creating and publishing its lock (a live one
      // holds the flock, or retries if we win the race for it).
      UniqueFd fd(::open(paths_.tmp_entry(name).c_str(), O_RDWR | O_CLOEXEC));
      if (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) stale_pending.push_back(paths_.tmp_entry(name));
    }
  }
  int swept = 0;
  for (const std::string& session : dead) {
    // Hold the dead session's lock while removing, so two sweepers don't race.
    UniqueFd fd(::open(paths_.session_lock(session).c_str(), O_RDWR | O_CLOEXEC));
    if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || st.st_nlink == 0) continue;  // already swept
    if (auto st_rm = remove_tree(paths_.session_dir(session)); !st_rm) {
      spdlog::warn("cannot sweep {}: {}", paths_.session_dir(session), st_rm.error().message());
      continue;
    }
    ::unlink(paths_.session_lock(session).c_str());
    ++swept;
  }
  for (const std::string& path : stale_pending) ::unlink(path.c_str());
  if (swept > 0) spdlog::debug("swept {} scratch dirs of dead processes in {}", swept, root);
  return swept;
}

}  // namespace gantry::cache
