// The filesystem of a container, set up by its PID 1 inside the new mount
// namespace: overlay of the layers, /proc, /dev, /sys, masked and read-only
// paths, bind mounts, /etc files, then pivot_root. Every target inside the
// rootfs is resolved fd-relative with openat2(RESOLVE_IN_ROOT), and mounted
// through /proc/self/fd/N, so a symlink in an image can never point a mount
// at the host.
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string_view>

#include "executor/init_steps.h"

namespace gantry::executor {
namespace {

struct FdPath {
  char buf[PATH_MAX];
  FdPath(int fd, const char* rel = nullptr) {
    if (rel)
      std::snprintf(buf, sizeof buf, "/proc/self/fd/%d/%s", fd, rel);
    else
      std::snprintf(buf, sizeof buf, "/proc/self/fd/%d", fd);
  }
  operator const char*() const { return buf; }
};

int open_in_root(int rootfd, const std::string& rel, int flags, UniqueFd& out) {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC | static_cast<unsigned>(flags);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const char* path = rel.empty() ? "." : rel.c_str();
  int fd = static_cast<int>(::syscall(SYS_openat2, rootfd, path, &how, sizeof how));
  if (fd < 0) return errno;
  out.reset(fd);
  return 0;
}

enum class Create { dir, file };

// Opens rootfs-relative `path` (leading '/' ignored), creating missing
// directories and, when asked, the last component as an empty file.
int ensure_in_root(int rootfd, std::string_view path, Create create, UniqueFd& out) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return open_in_root(rootfd, "", O_DIRECTORY, out);
  std::size_t pos = 0;
  for (;;) {
    auto slash = path.find('/', pos);
    bool last = slash == std::string_view::npos;
    std::string prefix(path.substr(0, last ? path.size() : slash));
    std::string name(path.substr(pos, last ? std::string_view::npos : slash - pos));
    UniqueFd fd;
    int err = open_in_root(rootfd, prefix, 0, fd);
    if (err == ENOENT) {
      UniqueFd parent;
      std::string parent_path(pos == 0 ? std::string() : std::string(path.substr(0, pos - 1)));
      if (int e = open_in_root(rootfd, parent_path, O_DIRECTORY, parent)) return e;
      if (last && create == Create::file) {
        int f = ::openat(parent.get(), name.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (f < 0 && errno != EEXIST) return errno;
        if (f >= 0) ::close(f);
      } else if (::mkdirat(parent.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
        return errno;
      }
      err = open_in_root(rootfd, prefix, 0, fd);
    }
    if (err) return err;
    if (last) {
      out = std::move(fd);
      return 0;
    }
    pos = slash + 1;
  }
}

int mount_on(const char* source, int fd, const char* rel, const char* type, unsigned long flags, const char* data) {
  return ::mount(source, FdPath(fd, rel), type, flags, data) == 0 ? 0 : errno;
}

// Binds a path onto itself, then remounts that bind read-only (the remount
// must name the new mount's root, so the path is opened again).
int make_readonly(int rootfd, const std::string& rel, bool recursive) {
  UniqueFd fd;
  if (int e = open_in_root(rootfd, rel, 0, fd)) return e;
  FdPath p(fd.get());
  if (::mount(p, p, nullptr, MS_BIND | (recursive ? MS_REC : 0), nullptr) != 0) return errno;
  UniqueFd top;
  if (int e = open_in_root(rootfd, rel, 0, top)) return e;
  if (::mount(nullptr, FdPath(top.get()), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              nullptr) != 0)
    return errno;
  return 0;
}

constexpr const char* kDevNodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
// runc's default masked and read-only paths.
constexpr const char* kMaskedPaths[] = {"proc/acpi",        "proc/asound",       "proc/kcore",
                                        "proc/keys",        "proc/latency_stats", "proc/timer_list",
                                        "proc/timer_stats", "proc/sched_debug",  "proc/scsi",
                                        "sys/firmware",     "sys/devices/virtual/powercap"};
constexpr const char* kReadonlyPaths[] = {"proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger"};

}  // namespace

std::string overlay_options(const InitConfig& config, std::string& chdir_to) {
  auto build = [&](std::size_t strip) {
    std::string lower;
    for (auto it = config.lowerdirs.rbegin(); it != config.lowerdirs.rend(); ++it) {
      if (!lower.empty()) lower += ':';
      lower += it->substr(strip);
    }
    return "lowerdir=" + lower + ",upperdir=" + config.upper_dir + ",workdir=" + config.work_dir;
  };
  chdir_to.clear();
  std::string opts = build(0);
  if (opts.size() < 4000 || config.lowerdirs.empty()) return opts;
  // Too long for the one page mount(2) takes: relative paths from the
  // layers' common parent directory.
  std::string common = config.lowerdirs.front().substr(0, config.lowerdirs.front().rfind('/') + 1);
  for (const auto& d : config.lowerdirs)
    while (!common.empty() && d.compare(0, common.size(), common) != 0)
      common = common.substr(0, common.rfind('/', common.size() - 2) + 1);
  if (common.size() <= 1) return opts;
  chdir_to = common;
  return build(common.size());
}

int make_mounts_private(SetupContext&) {
  return ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 ? 0 : errno;
}

// The container's scratch: upper, work, the rootfs mount point and /etc files.
// For a thrown-away upper, a tmpfs over the container dir, in this mount
// namespace only: nothing touches the disk and it all vanishes with the
// namespace (creating and deleting ~15 inodes per container on ext4 cost more
// CPU than the rest of the setup: ext4's recently_deleted() scans).
int mount_scratch(SetupContext& ctx) {
  const auto& c = ctx.config;
  // size=: the bound of the container's writes (Limits::tmpfs_bytes), which
  // would otherwise be half the host's RAM.
  char options[64] = "mode=0700";
  if (c.scratch_tmpfs_bytes)
    std::snprintf(options, sizeof options, "mode=0700,size=%llu", static_cast<unsigned long long>(c.scratch_tmpfs_bytes));
  if (c.scratch_tmpfs && ::mount("tmpfs", c.scratch_mount.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options) != 0)
    return errno;
  if (c.scratch_tmpfs && c.scratch_tmpfs_bytes) {
    int fd = ::open(c.scratch_mount.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    ctx.scratchfd.reset(fd);
  }
  for (const std::string* dir : {&c.scratch_dir, &c.upper_dir, &c.work_dir, &c.rootfs, &c.etc_dir})
    if (::mkdir(dir->c_str(), 0755) != 0 && errno != EEXIST) return errno;
  return 0;
}

int write_etc_files(SetupContext& ctx) {
  const auto& c = ctx.config;
  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + c.hostname + "\n";
  std::string resolv = "# gantry: network none (loopback only)\n";
  if (c.host_network) {
    // The host's resolver, read before pivot_root hides it.
    UniqueFd in(::open("/etc/resolv.conf", O_RDONLY | O_CLOEXEC));
    char buf[8192];
    ssize_t n = in ? ::read(in.get(), buf, sizeof buf) : -1;
    if (n >= 0) resolv.assign(buf, static_cast<std::size_t>(n));
  }
  const std::pair<const char*, std::string> files[] = {
      {"hosts", hosts}, {"hostname", c.hostname + "\n"}, {"resolv.conf", resolv}};
  for (const auto& [name, data] : files) {
    std::string path = c.etc_dir + "/" + name;
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd) return errno;
    if (::write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size())) return errno ? errno : EIO;
  }
  return 0;
}

int mount_rootfs(SetupContext& ctx) {
  std::string chdir_to;
  std::string opts = overlay_options(ctx.config, chdir_to);
  if (!chdir_to.empty() && ::chdir(chdir_to.c_str()) != 0) return errno;
  // nodev: a device node in an image opens nothing (the container cannot make one).
  // volatile: no syncfs of the upper's whole filesystem when the container's
  // mount namespace goes away (that took 100s of ms on a busy disk); the
  // upper is scratch that never outlives a crash, so durability is not needed.
  std::string with_volatile = opts + ",volatile";
  if (::mount("overlay", ctx.config.rootfs.c_str(), "overlay", MS_NODEV, with_volatile.c_str()) == 0) return 0;
  if (errno != EINVAL) return errno;
  // Kernels before 5.10 do not know volatile.
  if (::mount("overlay", ctx.config.rootfs.c_str(), "overlay", MS_NODEV, opts.c_str()) != 0) return errno;
  return 0;
}

int open_rootfs(SetupContext& ctx) {
  int fd = ::open(ctx.config.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  ctx.rootfd.reset(fd);
  return 0;
}

int mount_proc(SetupContext& ctx) {
  UniqueFd target;
  if (int e = ensure_in_root(ctx.rootfd.get(), "proc", Create::dir, target)) return e;
  if (int e = mount_on("proc", target.get(), nullptr, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr)) return e;
  return open_in_root(ctx.rootfd.get(), "proc", O_DIRECTORY, ctx.procfd);
}

int mount_dev(SetupContext& ctx) {
  UniqueFd target;
  if (int e = ensure_in_root(ctx.rootfd.get(), "dev", Create::dir, target)) return e;
  // nodev on the tmpfs: only the host nodes bound below (separate mounts) work.
  if (int e = mount_on("tmpfs", target.get(), nullptr, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_STRICTATIME,
                       "mode=755,size=65536k"))
    return e;
  UniqueFd dev;
  if (int e = open_in_root(ctx.rootfd.get(), "dev", O_DIRECTORY, dev)) return e;
  char host[32];
  for (const char* node : kDevNodes) {
    int f = ::openat(dev.get(), node, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (f < 0) return errno;
    ::close(f);
    std::snprintf(host, sizeof host, "/dev/%s", node);
    if (int e = mount_on(host, dev.get(), node, nullptr, MS_BIND, nullptr)) return e;
  }
  const std::pair<const char*, const char*> links[] = {{"/proc/self/fd", "fd"},     {"/proc/self/fd/0", "stdin"},
                                                       {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
                                                       {"/proc/kcore", "core"}};
  for (auto [to, name] : links)
    if (::symlinkat(to, dev.get(), name) != 0) return errno;
  return 0;
}

int mount_devpts(SetupContext& ctx) {
  UniqueFd dev;
  if (int e = open_in_root(ctx.rootfd.get(), "dev", O_DIRECTORY, dev)) return e;
  if (::mkdirat(dev.get(), "pts", 0755) != 0) return errno;
  if (int e = mount_on("devpts", dev.get(), "pts", "devpts", MS_NOSUID | MS_NOEXEC,
                       "newinstance,ptmxmode=0666,mode=0620,gid=5"))
    return e;
  return ::symlinkat("pts/ptmx", dev.get(), "ptmx") == 0 ? 0 : errno;
}

int mount_shm(SetupContext& ctx) {
  UniqueFd dev;
  if (int e = open_in_root(ctx.rootfd.get(), "dev", O_DIRECTORY, dev)) return e;
  if (::mkdirat(dev.get(), "shm", 01777) != 0) return errno;
  return mount_on("shm", dev.get(), "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
}

int mount_sys(SetupContext& ctx) {
  UniqueFd target;
  if (int e = ensure_in_root(ctx.rootfd.get(), "sys", Create::dir, target)) return e;
  return mount_on("sysfs", target.get(), nullptr, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
}

int mask_paths(SetupContext& ctx) {
  for (const char* rel : kMaskedPaths) {
    UniqueFd fd;
    int e = open_in_root(ctx.rootfd.get(), rel, O_NOFOLLOW, fd);
    if (e == ENOENT) continue;
    if (e) return e;
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return errno;
    if (S_ISDIR(st.st_mode))
      e = mount_on("tmpfs", fd.get(), nullptr, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0");
    else
      e = mount_on("/dev/null", fd.get(), nullptr, nullptr, MS_BIND, nullptr);
    if (e) return e;
  }
  return 0;
}

int readonly_paths(SetupContext& ctx) {
  for (const char* rel : kReadonlyPaths) {
    int e = make_readonly(ctx.rootfd.get(), rel, true);
    if (e && e != ENOENT) return e;
  }
  return 0;
}

int bind_mounts(SetupContext& ctx) {
  for (std::size_t i = 0; i < ctx.config.mounts.size(); ++i) {
    const auto& m = ctx.config.mounts[i];
    ctx.failed_index = static_cast<int>(i);
    struct stat st;
    if (::stat(m.source.c_str(), &st) != 0) return errno;
    UniqueFd target;
    if (int e = ensure_in_root(ctx.rootfd.get(), m.target, S_ISDIR(st.st_mode) ? Create::dir : Create::file, target))
      return e;
    if (::mount(m.source.c_str(), FdPath(target.get()), nullptr, MS_BIND | MS_REC, nullptr) != 0) return errno;
    // nodev and nosuid always (a device node or setuid binary in a host
    // directory, or one made there by the container, opens or raises
    // nothing), read-only when asked; on the whole bound tree, submounts
    // included. The attributes must go on the new mount's root: open it again.
    UniqueFd top;
    if (int e = open_in_root(ctx.rootfd.get(), m.target, 0, top)) return e;
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | (m.read_only ? MOUNT_ATTR_RDONLY : 0);
    if (::syscall(SYS_mount_setattr, top.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) == 0) continue;
    if (errno != ENOSYS) return errno;
    // Before Linux 5.12: the top mount only.
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_NODEV | MS_NOSUID | (m.read_only ? MS_RDONLY : 0);
    if (::mount(nullptr, FdPath(top.get()), nullptr, flags, nullptr) != 0) return errno;
  }
  ctx.failed_index = -1;
  return 0;
}

int etc_files(SetupContext& ctx) {
  for (const char* name : {"hosts", "hostname", "resolv.conf"}) {
    std::string source = ctx.config.etc_dir + "/" + name;
    UniqueFd target;
    if (int e = ensure_in_root(ctx.rootfd.get(), std::string("etc/") + name, Create::file, target)) return e;
    if (::mount(source.c_str(), FdPath(target.get()), nullptr, MS_BIND, nullptr) != 0) return errno;
  }
  return 0;
}

int pivot_into_rootfs(SetupContext& ctx) {
  if (::fchdir(ctx.rootfd.get()) != 0) return errno;
  // pivot_root(".", ".") stacks the old root on top of the new one; detaching
  // it leaves only the container's tree (no directory for the old root needed).
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return errno;
  if (::umount2(".", MNT_DETACH) != 0) return errno;
  if (::chdir("/") != 0) return errno;
  ctx.procfd.reset();
  ctx.rootfd.reset();
  return 0;
}

}  // namespace gantry::executor
