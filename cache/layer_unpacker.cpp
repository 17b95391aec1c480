#include "cache/layer_unpacker.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "cache/dir_fd_cache.h"
#include "cache/layer_path.h"
#include "cache/store.h"
#include "cache/tar_source.h"
#include "cache/write_pool.h"
#include "common/fault_injection.h"
#include "common/parallel.h"
#include "common/rooted_path.h"
#include "common/unique_fd.h"
#include "common/userns.h"

namespace gantry::cache {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

struct DeferredDir {
  std::vector<std::string> comps;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  timespec mtime;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

bool skipped_xattr(std::string_view name) {
  // A layer must not smuggle overlayfs' own metadata into a lowerdir.
  return name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.");
}

std::string join(const std::vector<std::string>& comps, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n && i < comps.size(); ++i) {
    if (i) out.push_back('/');
    out += comps[i];
  }
  return out;
}

class Extractor {
 public:
  Extractor(TarSource& src, std::string dest, UnpackOptions options)
      : src_(src), dest_(std::move(dest)), options_(options), chown_(options.preserve_owner && ::geteuid() == 0),
        umask_(current_umask()) {}

  // Entries whose owner gantry's user namespace does not map (without root,
  // docs/rootless.md): stored as root, the first one named.
  std::size_t unmapped_owners() const { return unmapped_; }
  std::uint64_t entries() const { return entries_; }
  std::uint64_t whiteout_names() const { return whiteout_names_; }
  std::size_t skipped_devices() const { return skipped_devices_; }
  const std::string& first_device() const { return first_device_; }
  const std::string& first_unmapped() const { return first_unmapped_; }

  Status run() {
    root_ = UniqueFd(::open(dest_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root_) return fail_sys("open", dest_);
    struct stat st {};
    if (::fstat(root_.get(), &st) != 0) return fail_sys("stat", dest_);
    // New entries get the process's ids: unless the root passes on its group
    // (setgid), an entry owned by them needs no chown.
    creator_owned_ok_ = (st.st_mode & S_ISGID) == 0;
    dirs_cache_.emplace(root_.get());
    if (!dirs_cache_->ok()) return fail_sys("dup", dest_);
    if (options_.writers != 0) {
      int n = options_.writers > 0 ? options_.writers : static_cast<int>(std::thread::hardware_concurrency());
      if (n > 1 || options_.writers > 0) pool_.emplace(n, kQueueBudget);
    }
    for (;;) {
      archive_entry* e = TRY(src_.next());
      if (!e) break;
      const char* raw = archive_entry_pathname(e);
      std::string name = raw ? raw : "";
      TRY_CTX(entry(e, name), "unpacking " + src_.path() + ": entry '" + name + "'");
      ++entries_;
    }
    TRY(barrier());
    return finish_dirs();
  }

 private:
  Error entry_error(ErrorKind kind, const std::string& why) { return Error(kind, why); }

  // chown as the entry says. Without root an id the user namespace does not
  // map fails with EINVAL: the entry keeps root (0:0 there), counted; the
  // layer's digests are the tar's, unchanged (docs/rootless.md).
  Status set_owner(int fd, const char* name, uid_t uid, gid_t gid, const std::string& path) {
    if (!chown_) return {};
    int rc = name ? ::fchownat(fd, name, uid, gid, AT_SYMLINK_NOFOLLOW) : ::fchown(fd, uid, gid);
    if (rc == 0) return {};
    if (errno == EINVAL && userns::rootless()) {
      std::lock_guard lock(owner_mu_);  // file writers run on the pool's threads
      if (options_.overrides) {
        auto& o = (*options_.overrides)[path.starts_with('/') ? path.substr(1) : path];
        o.uid = uid;
        o.gid = gid;
        return {};
      }
      if (unmapped_++ == 0) first_unmapped_ = path + " (" + std::to_string(uid) + ":" + std::to_string(gid) + ")";
      return {};
    }
    return fail_sys("chown", path);
  }

  // Opens the directory comps[0..n) below the root without following any
  // symlink (a symlink on the way is refused: it could escape the layer);
  // creates missing ones (0755) when create is set.
  // The fd is the cache's (dir_fd_cache.h): valid until the next call.
  Result<int> open_dir(const std::vector<std::string>& comps, std::size_t n, bool create) {
    auto fd = TRY(dirs_cache_->open(comps, n, create ? Create::yes : Create::no));
    return fd->get();
  }

  // The mode and owner a new entry gets from creation alone (no chown or
  // chmod needed): the process's ids, the permission bits past the umask.
  bool owner_is_creator(uid_t uid, gid_t gid) const {
    return !chown_ || (creator_owned_ok_ && uid == euid_ && gid == egid_);
  }
  bool mode_from_create(mode_t perm) const { return (perm & 07000) == 0 && (perm & umask_) == 0; }

  static mode_t current_umask() {
    // Read, not set: umask() is process-wide and other threads create files.
    auto text = read_file("/proc/self/status");
    if (text) {
      auto at = text->find("\nUmask:");
      if (at != std::string::npos) return static_cast<mode_t>(std::strtoul(text->c_str() + at + 7, nullptr, 8)) & 0777;
    }
    return 0777;  // unknown: always chmod
  }

  // Removes whatever is at parent/name, unless both it and the new entry are directories.
  Status clear_slot(int parent, const std::string& name, bool new_is_dir, const std::string& path) {
    struct stat st {};
    if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return {};
    if (S_ISDIR(st.st_mode)) {
      if (new_is_dir) return {};
      if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0) return fail_sys("replace directory", path);
      dirs_cache_->invalidate();  // no cached fd may stand for a name that holds something else now
      return {};
    }
    if (::unlinkat(parent, name.c_str(), 0) != 0) return fail_sys("replace", path);
    return {};
  }

  static std::vector<std::pair<std::string, std::string>> entry_xattrs(archive_entry* e) {
    std::vector<std::pair<std::string, std::string>> out;
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      if (!name || skipped_xattr(name)) continue;
      out.emplace_back(name, std::string(static_cast<const char*>(value), size));
    }
    return out;
  }

  Status set_xattrs_fd(int fd, const std::vector<std::pair<std::string, std::string>>& xattrs, const std::string& path) {
    for (const auto& [n, v] : xattrs)
      if (::fsetxattr(fd, n.c_str(), v.data(), v.size(), 0) != 0) return fail_sys("setxattr " + n, path);
    return {};
  }

  Status set_xattrs_at(int parent, const std::string& name, const std::vector<std::pair<std::string, std::string>>& xattrs,
                       const std::string& path) {
    if (xattrs.empty()) return {};
    std::string proc = "/proc/self/fd/" + std::to_string(parent) + "/" + name;
    for (const auto& [n, v] : xattrs)
      if (::lsetxattr(proc.c_str(), n.c_str(), v.data(), v.size(), 0) != 0) return fail_sys("setxattr " + n, path);
    return {};
  }

  // Runs make() (a mkdirat/openat/symlinkat/... of parent/name); when the
  // name is taken (EEXIST), clears the slot (clear_slot) and runs it once
  // more. Returns make()'s last result: -1 with errno set on failure.
  template <typename Make>
  Result<int> create_at(int parent, const std::string& name, const std::string& path, Make make) {
    int rc = make();
    if (rc >= 0 || errno != EEXIST) return rc;
    TRY(clear_slot(parent, name, false, path));
    return make();
  }

  Status entry(archive_entry* e, const std::string& raw_name) {
    std::string clean = TRY(normalize_layer_path(raw_name));
    std::vector<std::string> comps = split_path(clean);
    mode_t type = archive_entry_filetype(e);
    mode_t perm = archive_entry_perm(e);
    uid_t uid = static_cast<uid_t>(archive_entry_uid(e));
    gid_t gid = static_cast<gid_t>(archive_entry_gid(e));
    timespec mtime = entry_mtime(e);
    const char* hardlink = archive_entry_hardlink(e);

    if (comps.empty()) {  // the layer root itself
      if (type != AE_IFDIR) return fail(ErrorKind::invalid_input, "the layer root is not a directory");
      dirs_.push_back({{}, perm, uid, gid, mtime, entry_xattrs(e)});
      return {};
    }
    const std::string& base = comps.back();
    const bool is_whiteout = options_.convert_whiteouts && std::string_view(base).starts_with(kWhiteoutPrefix);
    // Queued file writes must be done before anything that may touch their
    // names (the same path again, a path below one, a hardlink, a whiteout).
    if (pool_ && !pending_files_.empty() &&
        (hardlink || is_whiteout || conflicts_with_pending(clean, comps, type == AE_IFDIR)))
      TRY(barrier());
    auto parent_ref = TRY(dirs_cache_->open(comps, comps.size() - 1, Create::yes));
    const int parent = parent_ref->get();

    if (!options_.convert_whiteouts && std::string_view(base).starts_with(kWhiteoutPrefix)) ++whiteout_names_;
    if (options_.convert_whiteouts && std::string_view(base).starts_with(kWhiteoutPrefix)) {
      if (base == kOpaqueMarker) {
        opaque_.push_back(std::vector<std::string>(comps.begin(), comps.end() - 1));
        return {};
      }
      std::string target = base.substr(kWhiteoutPrefix.size());
      if (target.empty() || target == "." || target == "..")
        return fail(ErrorKind::invalid_input, "malformed whiteout name");
      TRY(clear_slot(parent, target, false, clean));
      if (::mknodat(parent, target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0)
        return fail_sys("mknod whiteout", join(comps, comps.size() - 1) + "/" + target);
      return {};
    }

    if (hardlink) {
      std::string target = TRY(normalize_layer_path(hardlink));
      std::vector<std::string> tcomps = split_path(target);
      if (tcomps.empty()) return fail(ErrorKind::invalid_input, "hardlink to the layer root");
      // The target's parent as an fd of its own (the cache keeps one at a time).
      auto tparent = open_dir_beneath(root_.get(), join(tcomps, tcomps.size() - 1), Create::no);
      if (!tparent) return fail(tparent.error().context("hardlink target '" + target + "'"));
      struct stat st {};
      if (::fstatat(tparent->get(), tcomps.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return fail(ErrorKind::invalid_input, "hardlink to '" + target + "', which is not an earlier entry of the layer");
      if (S_ISDIR(st.st_mode)) return fail(ErrorKind::invalid_input, "hardlink to the directory '" + target + "'");
      TRY(clear_slot(parent, base, false, clean));
      if (::linkat(tparent->get(), tcomps.back().c_str(), parent, base.c_str(), 0) != 0) return fail_sys("link", clean);
      return {};
    }

    auto xattrs = entry_xattrs(e);
    switch (type) {
      case AE_IFDIR: {
        if (::mkdirat(parent, base.c_str(), 0700) != 0) {
          if (errno != EEXIST) return fail_sys("mkdir", clean);
          struct stat st {};
          if (::fstatat(parent, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return fail_sys("stat", clean);
          if (!S_ISDIR(st.st_mode)) {  // a file or link of an earlier entry: replaced
            TRY(clear_slot(parent, base, true, clean));
            if (::mkdirat(parent, base.c_str(), 0700) != 0) return fail_sys("mkdir", clean);
          }
        }
        dirs_.push_back({comps, perm, uid, gid, mtime, std::move(xattrs)});
        return {};
      }
      case AE_IFREG:
        if (pool_ && archive_entry_size(e) <= static_cast<la_int64_t>(kQueueMaxFile))
          return queue_file(e, std::move(parent_ref), base, clean, perm, uid, gid, mtime, std::move(xattrs));
        return write_file(e, parent, base, clean, perm, uid, gid, mtime, xattrs);
      case AE_IFLNK: {
        const char* target = archive_entry_symlink(e);
        if (!target) return fail(ErrorKind::invalid_input, "symlink without a target");
        int rc = TRY(create_at(parent, base, clean, [&] { return ::symlinkat(target, parent, base.c_str()); }));
        if (rc != 0) return fail_sys("symlink", clean);
        break;
      }
      case AE_IFCHR:
      case AE_IFBLK:
      case AE_IFIFO: {
        mode_t kind = type == AE_IFCHR ? S_IFCHR : type == AE_IFBLK ? S_IFBLK : S_IFIFO;
        int rc = TRY(create_at(parent, base, clean,
                               [&] { return ::mknodat(parent, base.c_str(), kind | perm, archive_entry_rdev(e)); }));
        if (rc != 0) {
          // A user namespace makes no device node (only the host's CAP_MKNOD
          // does): left out, counted (the containers' /dev is gantry's own).
          if (errno == EPERM && kind != S_IFIFO && userns::rootless()) {
            if (!options_.overrides) {
              if (skipped_devices_++ == 0) first_device_ = clean;
              return {};
            }
            UniqueFd placeholder(::openat(parent, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
            if (!placeholder) return fail_sys("create a placeholder for the device node", clean);
            (*options_.overrides)[clean] = EntryOverride{uid, gid, kind | perm, archive_entry_rdev(e)};
            // The owner as recorded; the placeholder keeps root's.
            timespec ptimes[2] = {mtime, mtime};
            if (::futimens(placeholder.get(), ptimes) != 0) return fail_sys("utimes", clean);
            return {};
          }
          return fail_sys("mknod", clean);
        }
        if (::fchmodat(parent, base.c_str(), perm, 0) != 0) return fail_sys("chmod", clean);
        break;
      }
      default:
        return fail(ErrorKind::invalid_input, "unsupported entry type " + std::to_string(type));
    }
    // Symlinks and special files: owner, xattrs and times by name, never followed.
    if (!owner_is_creator(uid, gid)) TRY(set_owner(parent, base.c_str(), uid, gid, clean));
    if (type != AE_IFLNK) TRY(set_xattrs_at(parent, base, xattrs, clean));
    timespec times[2] = {mtime, mtime};
    if (::utimensat(parent, base.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) return fail_sys("utimes", clean);
    return {};
  }

  // The entry's mtime, clamped when the options ask (seconds only, as a
  // layer written from the tree records it).
  timespec entry_mtime(archive_entry* e) const {
    timespec t{archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
    if (options_.clamp_mtime) {
      if (t.tv_sec >= *options_.clamp_mtime) t.tv_sec = static_cast<time_t>(*options_.clamp_mtime);
      t.tv_nsec = 0;
    }
    return t;
  }

  Status write_file(archive_entry* e, int parent, const std::string& base, const std::string& path, mode_t perm,
                    uid_t uid, gid_t gid, timespec mtime, const std::vector<std::pair<std::string, std::string>>& xattrs) {
    const bool exact_mode = mode_from_create(perm);
    const mode_t create_mode = exact_mode ? perm : 0600;
    int raw = TRY(create_at(parent, base, path, [&] {
      return ::openat(parent, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, create_mode);
    }));
    UniqueFd fd(raw);
    if (!fd) return fail_sys("create", path);
    const void* buf;
    size_t size;
    la_int64_t offset;
    la_int64_t end = 0;
    for (;;) {
      int rc = archive_read_data_block(src_.get(), &buf, &size, &offset);
      if (rc == ARCHIVE_EOF) break;
      if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return fail(src_.error("reading"));
      const char* p = static_cast<const char*>(buf);
      while (size > 0) {
        ssize_t n = ::pwrite(fd.get(), p, size, offset);
        if (n < 0) {
          if (errno == EINTR) continue;
          return fail_sys("write", path);
        }
        p += n;
        size -= static_cast<size_t>(n);
        offset += n;
      }
      end = offset;
    }
    return finish_file(fd.get(), end, archive_entry_size(e), path, perm, uid, gid, mtime, xattrs, exact_mode);
  }

  // A queued file: its bytes read now (as pieces at their offsets: a sparse
  // file's holes stay holes), written on the pool.
  Status queue_file(archive_entry* e, std::shared_ptr<UniqueFd> parent, const std::string& base, const std::string& path,
                    mode_t perm, uid_t uid, gid_t gid, timespec mtime,
                    std::vector<std::pair<std::string, std::string>> xattrs) {
    struct Piece {
      la_int64_t offset;
      std::size_t length;
    };
    auto data = std::make_shared<std::string>();
    auto pieces = std::make_shared<std::vector<Piece>>();
    data->reserve(static_cast<std::size_t>(archive_entry_size(e)));
    const void* buf;
    size_t size;
    la_int64_t offset;
    for (;;) {
      int rc = archive_read_data_block(src_.get(), &buf, &size, &offset);
      if (rc == ARCHIVE_EOF) break;
      if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return fail(src_.error("reading"));
      if (size == 0) continue;
      if (!pieces->empty() && pieces->back().offset + static_cast<la_int64_t>(pieces->back().length) == offset)
        pieces->back().length += size;
      else
        pieces->push_back({offset, size});
      data->append(static_cast<const char*>(buf), size);
    }
    la_int64_t declared = archive_entry_size(e);
    pending_files_.insert(path);
    for (std::size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1))
      pending_dirs_.insert(path.substr(0, slash));
    std::string ctx = "unpacking " + src_.path() + ": entry '" + path + "'";
    pool_->submit(
        [this, parent, base, path, perm, uid, gid, mtime, xattrs = std::move(xattrs), data, pieces, declared, ctx]() -> Status {
          const int dir = parent->get();
          const bool exact_mode = mode_from_create(perm);
          int raw = TRY_CTX(create_at(dir, base, path, [&] {
            return ::openat(dir, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                            exact_mode ? perm : 0600);
          }), ctx);
          UniqueFd fd(raw);
          if (!fd) return fail(sys_error("create", path).context(ctx));
          std::size_t at = 0;
          la_int64_t end = 0;
          for (const Piece& piece : *pieces) {
            std::size_t done = 0;
            while (done < piece.length) {
              ssize_t n = ::pwrite(fd.get(), data->data() + at + done, piece.length - done,
                                   piece.offset + static_cast<la_int64_t>(done));
              if (n < 0) {
                if (errno == EINTR) continue;
                return fail(sys_error("write", path).context(ctx));
              }
              done += static_cast<std::size_t>(n);
            }
            at += piece.length;
            end = piece.offset + static_cast<la_int64_t>(piece.length);
          }
          TRY_CTX(finish_file(fd.get(), end, declared, path, perm, uid, gid, mtime, xattrs, exact_mode), ctx);
          return {};
        },
        data->size() + 512);
    return {};
  }

  // After a file's bytes: its size (a hole at the end), owner, mode, xattrs, mtime.
  Status finish_file(int fd, la_int64_t end, la_int64_t size, const std::string& path, mode_t perm, uid_t uid,
                     gid_t gid, timespec mtime, const std::vector<std::pair<std::string, std::string>>& xattrs,
                     bool exact_mode) {
    // A sparse file's hole at the end is only made by the size.
    if (end != size && ::ftruncate(fd, size) != 0) return fail_sys("truncate", path);
    if (!owner_is_creator(uid, gid)) {
      TRY(set_owner(fd, nullptr, uid, gid, path));
      if (::fchmod(fd, perm) != 0) return fail_sys("chmod", path);  // after chown, which drops setuid bits
    } else if (!exact_mode && ::fchmod(fd, perm) != 0) {
      return fail_sys("chmod", path);
    }
    TRY(set_xattrs_fd(fd, xattrs, path));
    timespec times[2] = {mtime, mtime};
    if (::futimens(fd, times) != 0) return fail_sys("utimes", path);
    return {};
  }

  // Whether an entry at `clean` may touch a queued file: it is one, lies
  // below one, or (not being a directory) replaces a directory holding one.
  bool conflicts_with_pending(const std::string& clean, const std::vector<std::string>& comps, bool is_dir) const {
    if (pending_files_.count(clean) || (!is_dir && pending_dirs_.count(clean))) return true;
    std::string prefix;
    for (std::size_t i = 0; i + 1 < comps.size(); ++i) {
      if (i) prefix.push_back('/');
      prefix += comps[i];
      if (pending_files_.count(prefix)) return true;
    }
    return false;
  }

  // Every queued file written (its error, if any, returned).
  Status barrier() {
    if (!pool_) return {};
    pending_files_.clear();
    pending_dirs_.clear();
    return pool_->wait();
  }

  // Directory attributes last (their content changes their mtime; a
  // read-only mode would block the writes), deepest first.
  Status finish_dirs() {
    for (const auto& comps : opaque_) {
      int dir = TRY(open_dir(comps, comps.size(), true));
      UniqueFd rd(::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!rd) return fail_sys("open", join(comps, comps.size()));
      // Without root the containers' overlay is mounted with userxattr.
      const char* opaque = userns::rootless() ? "user.overlay.opaque" : "trusted.overlay.opaque";
      if (::fsetxattr(rd.get(), opaque, "y", 1, 0) != 0)
        return fail_sys("set opaque xattr on", "/" + join(comps, comps.size()));
    }
    std::stable_sort(dirs_.begin(), dirs_.end(),
                     [](const DeferredDir& a, const DeferredDir& b) { return a.comps.size() > b.comps.size(); });
    for (const DeferredDir& d : dirs_) {
      std::string path = "/" + join(d.comps, d.comps.size());
      int dir = TRY(open_dir(d.comps, d.comps.size(), false));
      UniqueFd rd(::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!rd) return fail_sys("open", path);
      if (!owner_is_creator(d.uid, d.gid)) TRY(set_owner(rd.get(), nullptr, d.uid, d.gid, path));
      if (::fchmod(rd.get(), d.mode) != 0) return fail_sys("chmod", path);
      TRY(set_xattrs_fd(rd.get(), d.xattrs, path));
      timespec times[2] = {d.mtime, d.mtime};
      if (::futimens(rd.get(), times) != 0) return fail_sys("utimes", path);
    }
    return {};
  }

  TarSource& src_;
  std::string dest_;
  UnpackOptions options_;
  bool chown_;
  mode_t umask_;
  bool creator_owned_ok_ = false;
  UniqueFd root_;
  std::optional<DirFdCache> dirs_cache_;
  // Files up to kQueueMaxFile are written on the pool, at most kQueueBudget
  // bytes of them waiting; pending_*: what is queued since the last barrier.
  static constexpr std::size_t kQueueMaxFile = 8u << 20;
  static constexpr std::size_t kQueueBudget = 64u << 20;
  std::unordered_set<std::string> pending_files_;
  std::unordered_set<std::string> pending_dirs_;
  std::mutex owner_mu_;
  std::optional<WritePool> pool_;  // last: its destructor waits for jobs that use the members above
  std::vector<DeferredDir> dirs_;
  std::vector<std::vector<std::string>> opaque_;
  std::size_t unmapped_ = 0;
  std::uint64_t entries_ = 0;
  std::uint64_t whiteout_names_ = 0;
  uid_t euid_ = ::geteuid();
  gid_t egid_ = ::getegid();
  std::string first_unmapped_;
  std::size_t skipped_devices_ = 0;
  std::string first_device_;
};

}  // namespace

namespace {

// What a layer's media type says its bytes are.
Result<Compression> layer_compression(const std::string& media_type) {
  if (media_type.empty()) return Compression::any;
  if (media_type.ends_with("+gzip") || media_type.ends_with(".tar.gzip")) return Compression::gzip;
  if (media_type.ends_with(".tar") || media_type.ends_with(".v1.tar")) return Compression::none;
  return fail(ErrorKind::invalid_input, "unsupported layer media type '" + media_type + "' (gantry reads tar and tar+gzip layers)");
}

Result<TarSourceOptions> source_options(const std::string& media_type, std::uint64_t max_bytes) {
  TarSourceOptions o;
  o.expect = TRY(layer_compression(media_type));
  o.max_bytes = max_bytes;
  o.limit_name = "max_layer_size in the runner configuration";
  return o;
}

Result<Digest> required_digest(const std::optional<Digest>& d, const std::string& path) {
  if (!d) return fail(ErrorKind::invalid_input, path + ": no diff_id can be computed for this compression");
  return *d;
}

std::string mismatch(const std::string& what, const Digest& actual, const Digest& expected) {
  return what + " does not match its diff_id: its uncompressed content hashes to " + actual.str() + ", the image says " +
         expected.str() + ": refused";
}

}  // namespace

Result<std::optional<Digest>> unpack_tar(const std::string& archive_path, const std::string& dest,
                                         const UnpackOptions& options) {
  TarSourceOptions so = TRY(source_options(options.media_type, options.max_bytes));
  so.hash_file = options.hash_file;
  auto src = TRY(TarSource::open(archive_path, so));
  Extractor extractor(*src, dest, options);
  TRY(extractor.run());
  if (extractor.unmapped_owners() > 0)
    spdlog::warn("{}: {} entries are owned by ids gantry's user namespace does not map (first: {}); they are stored "
                 "as root (docs/rootless.md: subordinate ids in /etc/subuid and /etc/subgid map them)",
                 archive_path, extractor.unmapped_owners(), extractor.first_unmapped());
  if (extractor.skipped_devices() > 0)
    spdlog::warn("{}: {} device nodes left out (first: {}): gantry without root cannot make them (docs/rootless.md)",
                 archive_path, extractor.skipped_devices(), extractor.first_device());
  auto digest = TRY(src->finish());
  if (options.stats) {
    options.stats->entries = extractor.entries();
    options.stats->whiteout_names = extractor.whiteout_names();
    options.stats->file_digest = src->file_digest();
  }
  return digest;
}

Result<Digest> layer_diff_id(const Store& store, const std::string& path, const std::string& media_type) {
  std::string media = media_type.empty() ? kMediaTypeLayerGzip : media_type;
  TarSourceOptions so = TRY(source_options(media, store.options().max_layer_bytes));
  auto src = TRY(TarSource::open(path, so));
  while (TRY(src->next())) {
  }
  auto digest = TRY(src->finish());
  return required_digest(digest, path);
}

Status verify_layer_file(const Store& store, const std::string& path, const LayerDescriptor& layer) {
  Digest actual = TRY_CTX(layer_diff_id(store, path, layer.media_type), "layer " + layer.digest.str());
  if (actual != layer.diff_id) return fail(ErrorKind::corrupt, mismatch("layer " + layer.digest.str(), actual, layer.diff_id));
  return {};
}

namespace {

Status check_blob_digest(const std::string& path, const std::optional<Digest>& actual, const Digest& expected) {
  if (!actual) return fail(ErrorKind::internal, path + ": the file's digest was not computed");
  if (*actual != expected)
    return fail(ErrorKind::corrupt, "layer blob " + expected.str() + " does not match its digest (content hashes to " +
                                        actual->str() + ")");
  return {};
}

// A layer file that failed to unpack or verify: when its bytes are not the
// blob the image names, that is the error to report (it explains the rest).
Error blob_error_first(const std::string& path, const LayerDescriptor& layer, const Error& error) {
  auto actual = digest_file(path);
  if (actual && *actual != layer.digest) return check_blob_digest(path, *actual, layer.digest).error();
  return error;
}

}  // namespace

Result<TempDir> unpack_layer_file(Store& store, const std::string& path, const LayerDescriptor& layer,
                                  bool check_digest) {
  auto work = TRY(store.make_temp_dir("unpack-"));
  std::string root = work.path() + "/root";
  if (::mkdir(root.c_str(), 0755) != 0) return fail_sys("mkdir", root);
  UnpackOptions options;
  options.media_type = layer.media_type.empty() ? kMediaTypeLayerGzip : layer.media_type;
  options.max_bytes = store.options().max_layer_bytes;
  options.hash_file = check_digest;
  UnpackStats stats;
  options.stats = &stats;
  auto unpacked = unpack_tar(path, root, options);
  if (!unpacked) return fail(check_digest ? blob_error_first(path, layer, unpacked.error()) : unpacked.error());
  if (check_digest) TRY(check_blob_digest(path, stats.file_digest, layer.digest));
  Digest actual = TRY(required_digest(*unpacked, path));
  if (actual != layer.diff_id) return fail(ErrorKind::corrupt, mismatch("layer " + path, actual, layer.diff_id));
  return work;
}

Result<std::optional<TempDir>> check_or_unpack_layer(Store& store, const std::string& path, const LayerDescriptor& layer,
                                                     bool check_digest) {
  struct stat st {};
  if (::stat(store.paths().layer_dir(layer.diff_id).c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return std::optional<TempDir>(
        TRY_CTX(unpack_layer_file(store, path, layer, check_digest), "layer " + layer.digest.str()));
  if (check_digest) {
    Digest actual = TRY(digest_file(path));
    TRY(check_blob_digest(path, actual, layer.digest));  // names the layer
  }
  TRY(verify_layer_file(store, path, layer));  // names the layer
  return std::optional<TempDir>();
}

int unpack_threads() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

Result<std::vector<std::optional<TempDir>>> check_or_unpack_layers(Store& store, const std::vector<LayerFile>& files,
                                                                   bool check_digest) {
  // The scratch dir exists before the threads ask for it (made lazily with StoreScratch::none).
  if (store.tmp_dir().empty()) (void)TRY(store.make_temp_dir("unpack-"));
  std::vector<std::optional<TempDir>> trees(files.size());
  TRY(for_each_parallel(files.size(), unpack_threads(), [&](std::size_t i) -> Status {
    trees[i] = TRY(check_or_unpack_layer(store, files[i].path, files[i].layer, check_digest));
    return {};
  }));
  return trees;
}

Result<std::string> publish_unpacked(Store& store, TempDir& unpacked, const Digest& diff_id) {
  const std::string final_dir = store.paths().layer_dir(diff_id);
  std::string root = unpacked.path() + "/root";
  TRY(fault::point(fault::Op::rename, final_dir));
  if (::rename(root.c_str(), final_dir.c_str()) != 0) {
    if (errno == EEXIST || errno == ENOTEMPTY) return final_dir;  // another process unpacked it first
    return fail_sys("rename to", final_dir);
  }
  // The rename is only durable once layers/ is synced; a failure is reported
  // (the tree is in place and complete, so a retry finds it).
  TRY_CTX(fsync_dir(store.paths().layers_dir()), "publishing unpacked layer " + diff_id.str());
  return final_dir;
}

Result<std::string> ensure_unpacked(Store& store, const LayerDescriptor& layer) {
  const std::string final_dir = store.paths().layer_dir(layer.diff_id);
  struct stat st {};
  if (::stat(final_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return final_dir;
  if (!store.blobs().has(layer.digest))
    return fail(ErrorKind::not_found, "layer blob " + layer.digest.str() + " is not in the store");
  auto work = TRY_CTX(unpack_layer_file(store, store.blobs().path(layer.digest), layer),
                      "layer " + layer.digest.str());
  return publish_unpacked(store, work, layer.diff_id);
}

}  // namespace gantry::cache
