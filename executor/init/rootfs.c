/* The filesystem of a container, set up by its PID 1 inside the new mount
 * namespace: overlay of the layers, /proc, /dev, /sys, masked and read-only
 * paths, bind mounts, /etc files, then pivot_root. Every target inside the
 * rootfs is resolved fd-relative with openat2(RESOLVE_IN_ROOT), and mounted
 * through /proc/self/fd/N, so a symlink in an image can never point a mount
 * at the host. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "executor/init/init.h"

struct fd_path {
  char buf[PATH_MAX];
};

static const char* fd_path(struct fd_path* p, int fd, const char* rel) {
  if (rel)
    snprintf(p->buf, sizeof p->buf, "/proc/self/fd/%d/%s", fd, rel);
  else
    snprintf(p->buf, sizeof p->buf, "/proc/self/fd/%d", fd);
  return p->buf;
}

static void close_fd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* Opens rootfs-relative `rel` ("" = the root) as O_PATH; 0 or errno. */
static int open_in_root(int rootfd, const char* rel, int flags, int* out) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_CLOEXEC | (unsigned)flags;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = (int)syscall(SYS_openat2, rootfd, rel[0] ? rel : ".", &how, sizeof how);
  if (fd < 0) return errno;
  *out = fd;
  return 0;
}

enum create { CREATE_DIR, CREATE_FILE };

/* Opens rootfs-relative `path` (leading '/' ignored), creating missing
 * directories and, when asked, the last component as an empty file. */
static int ensure_in_root(int rootfd, const char* path_in, enum create create, int* out) {
  char path[PATH_MAX];
  while (*path_in == '/') ++path_in;
  size_t len = strlen(path_in);
  if (len >= sizeof path) return ENAMETOOLONG;
  memcpy(path, path_in, len + 1);
  while (len > 0 && path[len - 1] == '/') path[--len] = '\0';
  if (len == 0) return open_in_root(rootfd, "", O_DIRECTORY, out);
  size_t pos = 0;
  for (;;) {
    char* slash = strchr(path + pos, '/');
    int last = slash == NULL;
    size_t end = last ? len : (size_t)(slash - path);
    char prefix[PATH_MAX];
    memcpy(prefix, path, end);
    prefix[end] = '\0';
    int fd = -1;
    int err = open_in_root(rootfd, prefix, 0, &fd);
    if (err == ENOENT) {
      char parent_path[PATH_MAX];
      size_t plen = pos == 0 ? 0 : pos - 1;
      memcpy(parent_path, path, plen);
      parent_path[plen] = '\0';
      const char* name = prefix + pos;
      int parent = -1;
      if ((err = open_in_root(rootfd, parent_path, O_DIRECTORY, &parent))) return err;
      if (last && create == CREATE_FILE) {
        int f = openat(parent, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (f < 0 && errno != EEXIST) err = errno;
        if (f >= 0) close(f);
      } else if (mkdirat(parent, name, 0755) != 0 && errno != EEXIST) {
        err = errno;
      }
      close(parent);
      if (err) return err;
      err = open_in_root(rootfd, prefix, 0, &fd);
    }
    if (err) return err;
    if (last) {
      *out = fd;
      return 0;
    }
    close(fd);
    pos = end + 1;
  }
}

static int mount_on(const char* source, int fd, const char* rel, const char* type, unsigned long flags,
                    const char* data) {
  struct fd_path p;
  return mount(source, fd_path(&p, fd, rel), type, flags, data) == 0 ? 0 : errno;
}

/* Binds a path onto itself, then remounts that bind read-only (the remount
 * must name the new mount's root, so the path is opened again). */
static int make_readonly(int rootfd, const char* rel) {
  int fd = -1, top = -1, err;
  struct fd_path p;
  if ((err = open_in_root(rootfd, rel, 0, &fd))) return err;
  fd_path(&p, fd, NULL);
  if (mount(p.buf, p.buf, NULL, MS_BIND | MS_REC, NULL) != 0) err = errno;
  close(fd);
  if (err) return err;
  if ((err = open_in_root(rootfd, rel, 0, &top))) return err;
  if (mount(NULL, fd_path(&p, top, NULL), NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
            NULL) != 0)
    err = errno;
  close(top);
  return err;
}

static const char* const kDevNodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
/* runc's default masked and read-only paths. */
static const char* const kMaskedPaths[] = {"proc/acpi",        "proc/asound",       "proc/kcore",
                                           "proc/keys",        "proc/latency_stats", "proc/timer_list",
                                           "proc/timer_stats", "proc/sched_debug",  "proc/scsi",
                                           "sys/firmware",     "sys/devices/virtual/powercap"};
static const char* const kReadonlyPaths[] = {"proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger"};

int make_mounts_private(struct setup_ctx* ctx) {
  (void)ctx;
  return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 ? 0 : errno;
}

/* The container's scratch: upper, work, the rootfs mount point and /etc files.
 * For a thrown-away upper, a tmpfs over the container dir, in this mount
 * namespace only: nothing touches the disk and it all vanishes with the
 * namespace (creating and deleting ~15 inodes per container on ext4 cost more
 * CPU than the rest of the setup: ext4's recently_deleted() scans). */
int mount_scratch(struct setup_ctx* ctx) {
  const struct init_config* c = ctx->config;
  /* size=: the bound of the container's writes (Limits::tmpfs_bytes), which
   * would otherwise be half the host's RAM. */
  char options[64] = "mode=0700";
  if (c->scratch_tmpfs_bytes)
    snprintf(options, sizeof options, "mode=0700,size=%llu", (unsigned long long)c->scratch_tmpfs_bytes);
  if (c->scratch_tmpfs && mount("tmpfs", c->scratch_mount, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) return errno;
  if (c->scratch_tmpfs && c->scratch_tmpfs_bytes) {
    int fd = open(c->scratch_mount, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    ctx->scratchfd = fd;
  }
  const char* dirs[] = {c->scratch_dir, c->upper_dir, c->work_dir, c->rootfs, c->etc_dir};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; ++i)
    if (mkdir(dirs[i], 0755) != 0 && errno != EEXIST) return errno;
  return 0;
}

static int write_small_file(const char* dir, const char* name, const char* data, size_t len) {
  char path[PATH_MAX];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) return ENAMETOOLONG;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return errno;
  ssize_t n = write(fd, data, len);
  int err = n == (ssize_t)len ? 0 : (n < 0 ? errno : EIO);
  close(fd);
  return err;
}

int write_etc_files(struct setup_ctx* ctx) {
  const struct init_config* c = ctx->config;
  char buf[8192];
  int n = snprintf(buf, sizeof buf, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n%s",
                   c->hostname, c->extra_hosts);
  if (n < 0 || (size_t)n >= sizeof buf) return E2BIG;
  int err = write_small_file(c->etc_dir, "hosts", buf, (size_t)n);
  if (err) return err;
  n = snprintf(buf, sizeof buf, "%s\n", c->hostname);
  if ((err = write_small_file(c->etc_dir, "hostname", buf, (size_t)n))) return err;
  const char* resolv = "# gantry: network none (loopback only)\n";
  size_t rlen = strlen(resolv);
  if (c->host_network) {
    /* The host's resolver, read before pivot_root hides it. */
    int in = open("/etc/resolv.conf", O_RDONLY | O_CLOEXEC);
    ssize_t got = in >= 0 ? read(in, buf, sizeof buf) : -1;
    if (in >= 0) close(in);
    resolv = buf;
    rlen = got > 0 ? (size_t)got : 0;
  }
  return write_small_file(c->etc_dir, "resolv.conf", resolv, rlen);
}

/* The overlay mount data for the layers ("lowerdir=top:...:bottom,upperdir=...,workdir=...").
 * When too long for one page, relative lowerdirs from their common parent
 * (*chdir_to is then set and the mount must be done from there). NULL: no memory. */
static char* overlay_options(const struct init_config* c, size_t strip, const char* suffix) {
  size_t size = strlen("lowerdir=,upperdir=,workdir=") + strlen(c->upper_dir) + strlen(c->work_dir) + strlen(suffix) + 1;
  for (size_t i = 0; i < c->n_lowerdirs; ++i) size += strlen(c->lowerdirs[i]) + 1;
  char* opts = malloc(size);
  if (!opts) return NULL;
  char* p = opts;
  p += sprintf(p, "lowerdir=");
  for (size_t i = c->n_lowerdirs; i-- > 0;) {
    const char* d = c->lowerdirs[i];
    p += sprintf(p, "%s%s", i + 1 == c->n_lowerdirs ? "" : ":", strlen(d) > strip ? d + strip : d);
  }
  sprintf(p, ",upperdir=%s,workdir=%s%s", c->upper_dir, c->work_dir, suffix);
  return opts;
}

/* The length of the longest common parent directory of the lowerdirs
 * (including its trailing '/'), 0 when only "/". */
static size_t common_parent(const struct init_config* c) {
  const char* first = c->lowerdirs[0];
  const char* last_slash = strrchr(first, '/');
  size_t common = last_slash ? (size_t)(last_slash - first) + 1 : 0;
  for (size_t i = 1; i < c->n_lowerdirs; ++i) {
    while (common > 1 && strncmp(c->lowerdirs[i], first, common) != 0) {
      size_t j = common - 1;  /* drop the last component */
      while (j > 0 && first[j - 1] != '/') --j;
      common = j;
    }
  }
  return common <= 1 ? 0 : common;
}

static int mount_overlay(const struct init_config* c, size_t strip) {
  /* nodev: a device node in an image opens nothing (the container cannot make one).
   * volatile: no syncfs of the upper's whole filesystem when the container's
   * mount namespace goes away (that took 100s of ms on a busy disk); the
   * upper is scratch that never outlives a crash, so durability is not needed. */
  /* userxattr: in a user namespace overlay keeps its whiteout/opaque marks
   * in user.overlay.* (trusted.* needs the host's CAP_SYS_ADMIN); the
   * store's layers carry user.overlay.opaque there (cache/layer_unpacker). */
  const char* extra = c->rootless ? ",userxattr,volatile" : ",volatile";
  char* opts = overlay_options(c, strip, extra);
  if (!opts) return ENOMEM;
  int err = mount("overlay", c->rootfs, "overlay", MS_NODEV, opts) == 0 ? 0 : errno;
  free(opts);
  if (err != EINVAL) return err;
  /* Kernels before 5.10 do not know volatile. */
  if (!(opts = overlay_options(c, strip, c->rootless ? ",userxattr" : ""))) return ENOMEM;
  err = mount("overlay", c->rootfs, "overlay", MS_NODEV, opts) == 0 ? 0 : errno;
  free(opts);
  return err;
}

int mount_rootfs(struct setup_ctx* ctx) {
  const struct init_config* c = ctx->config;
  char* opts = overlay_options(c, 0, ",userxattr,volatile");
  if (!opts) return ENOMEM;
  size_t len = strlen(opts);
  free(opts);
  if (len < 4000) return mount_overlay(c, 0);
  /* Too long for the one page mount(2) takes: relative paths from the
   * layers' common parent directory. */
  size_t common = common_parent(c);
  if (common == 0) return mount_overlay(c, 0);
  char dir[PATH_MAX];
  if (common >= sizeof dir) return ENAMETOOLONG;
  memcpy(dir, c->lowerdirs[0], common);
  dir[common] = '\0';
  if (chdir(dir) != 0) return errno;
  return mount_overlay(c, common);
}

int open_rootfs(struct setup_ctx* ctx) {
  int fd = open(ctx->config->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  ctx->rootfd = fd;
  return 0;
}

int mount_proc(struct setup_ctx* ctx) {
  int target = -1;
  int err = ensure_in_root(ctx->rootfd, "proc", CREATE_DIR, &target);
  if (err) return err;
  err = mount_on("proc", target, NULL, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  close(target);
  return err;
}

int mount_dev(struct setup_ctx* ctx) {
  int target = -1, dev = -1;
  int err = ensure_in_root(ctx->rootfd, "dev", CREATE_DIR, &target);
  if (err) return err;
  /* nodev on the tmpfs: only the host nodes bound below (separate mounts) work. */
  err = mount_on("tmpfs", target, NULL, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_STRICTATIME,
                 "mode=755,size=65536k");
  close(target);
  if (err) return err;
  if ((err = open_in_root(ctx->rootfd, "dev", O_DIRECTORY, &dev))) return err;
  char host[32];
  for (size_t i = 0; i < sizeof kDevNodes / sizeof kDevNodes[0] && !err; ++i) {
    int f = openat(dev, kDevNodes[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (f < 0) {
      err = errno;
      break;
    }
    close(f);
    snprintf(host, sizeof host, "/dev/%s", kDevNodes[i]);
    err = mount_on(host, dev, kDevNodes[i], NULL, MS_BIND, NULL);
  }
  static const char* const links[][2] = {{"/proc/self/fd", "fd"},     {"/proc/self/fd/0", "stdin"},
                                         {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
                                         {"/proc/kcore", "core"}};
  for (size_t i = 0; i < sizeof links / sizeof links[0] && !err; ++i)
    if (symlinkat(links[i][0], dev, links[i][1]) != 0) err = errno;
  close_fd(&dev);
  return err;
}

int mount_devpts(struct setup_ctx* ctx) {
  int dev = -1;
  int err = open_in_root(ctx->rootfd, "dev", O_DIRECTORY, &dev);
  if (err) return err;
  if (mkdirat(dev, "pts", 0755) != 0)
    err = errno;
  else {
    err = mount_on("devpts", dev, "pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    /* A user namespace that maps only the user's own id has no gid 5 (tty). */
    if (err == EINVAL && ctx->config->rootless)
      err = mount_on("devpts", dev, "pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
    if (!err) err = symlinkat("pts/ptmx", dev, "ptmx") == 0 ? 0 : errno;
  }
  close(dev);
  return err;
}

int mount_shm(struct setup_ctx* ctx) {
  int dev = -1;
  int err = open_in_root(ctx->rootfd, "dev", O_DIRECTORY, &dev);
  if (err) return err;
  if (mkdirat(dev, "shm", 01777) != 0)
    err = errno;
  else
    err = mount_on("shm", dev, "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
  close(dev);
  return err;
}

int mount_sys(struct setup_ctx* ctx) {
  int target = -1;
  int err = ensure_in_root(ctx->rootfd, "sys", CREATE_DIR, &target);
  if (err) return err;
  err = mount_on("sysfs", target, NULL, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  if (err == EPERM && ctx->config->rootless && ctx->config->host_network) {
    /* sysfs belongs to the network namespace: the host's (network: host)
     * is not this user namespace's to mount. Its /sys, bound read-only. */
    struct fd_path p;
    if (mount("/sys", fd_path(&p, target, NULL), NULL, MS_BIND | MS_REC, NULL) != 0) {
      err = errno;
    } else {
      close(target);
      return make_readonly(ctx->rootfd, "sys");
    }
  }
  close(target);
  return err;
}

int mask_paths(struct setup_ctx* ctx) {
  for (size_t i = 0; i < sizeof kMaskedPaths / sizeof kMaskedPaths[0]; ++i) {
    int fd = -1;
    int err = open_in_root(ctx->rootfd, kMaskedPaths[i], O_NOFOLLOW, &fd);
    if (err == ENOENT) continue;
    if (err) return err;
    struct stat st;
    if (fstat(fd, &st) != 0)
      err = errno;
    else if (S_ISDIR(st.st_mode))
      err = mount_on("tmpfs", fd, NULL, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0");
    else
      err = mount_on("/dev/null", fd, NULL, NULL, MS_BIND, NULL);
    close(fd);
    if (err) return err;
  }
  return 0;
}

int readonly_paths(struct setup_ctx* ctx) {
  for (size_t i = 0; i < sizeof kReadonlyPaths / sizeof kReadonlyPaths[0]; ++i) {
    int err = make_readonly(ctx->rootfd, kReadonlyPaths[i]);
    if (err && err != ENOENT) return err;
  }
  return 0;
}

static int bind_one(struct setup_ctx* ctx, const struct init_mount* m) {
  struct stat st;
  if (stat(m->source, &st) != 0) return errno;
  int target = -1, top = -1;
  int err = ensure_in_root(ctx->rootfd, m->target, S_ISDIR(st.st_mode) ? CREATE_DIR : CREATE_FILE, &target);
  if (err) return err;
  struct fd_path p;
  if (mount(m->source, fd_path(&p, target, NULL), NULL, MS_BIND | MS_REC, NULL) != 0) err = errno;
  close(target);
  if (err) return err;
  /* nodev and nosuid always (a device node or setuid binary in a host
   * directory, or one made there by the container, opens or raises
   * nothing), read-only when asked; on the whole bound tree, submounts
   * included. The attributes must go on the new mount's root: open it again. */
  if ((err = open_in_root(ctx->rootfd, m->target, 0, &top))) return err;
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | (m->read_only ? MOUNT_ATTR_RDONLY : 0);
  if (syscall(SYS_mount_setattr, top, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0) {
    err = errno;
    if (err == ENOSYS) {
      /* Before Linux 5.12: the top mount only. */
      unsigned long flags = MS_BIND | MS_REMOUNT | MS_NODEV | MS_NOSUID | (m->read_only ? MS_RDONLY : 0);
      err = mount(NULL, fd_path(&p, top, NULL), NULL, flags, NULL) == 0 ? 0 : errno;
    }
  }
  close(top);
  return err;
}

int bind_mounts(struct setup_ctx* ctx) {
  for (size_t i = 0; i < ctx->config->n_mounts; ++i) {
    ctx->failed_index = (int)i;
    int err = bind_one(ctx, &ctx->config->mounts[i]);
    if (err) return err;
  }
  ctx->failed_index = -1;
  return 0;
}

int etc_files(struct setup_ctx* ctx) {
  static const char* const names[] = {"hosts", "hostname", "resolv.conf"};
  for (size_t i = 0; i < 3; ++i) {
    char source[PATH_MAX], rel[64];
    snprintf(source, sizeof source, "%s/%s", ctx->config->etc_dir, names[i]);
    snprintf(rel, sizeof rel, "etc/%s", names[i]);
    int target = -1;
    int err = ensure_in_root(ctx->rootfd, rel, CREATE_FILE, &target);
    if (err) return err;
    struct fd_path p;
    err = mount(source, fd_path(&p, target, NULL), NULL, MS_BIND, NULL) == 0 ? 0 : errno;
    close(target);
    if (err) return err;
  }
  return 0;
}

int pivot_into_rootfs(struct setup_ctx* ctx) {
  if (fchdir(ctx->rootfd) != 0) return errno;
  /* pivot_root(".", ".") stacks the old root on top of the new one; detaching
   * it leaves only the container's tree (no directory for the old root needed). */
  if (syscall(SYS_pivot_root, ".", ".") != 0) return errno;
  if (umount2(".", MNT_DETACH) != 0) return errno;
  if (chdir("/") != 0) return errno;
  close_fd(&ctx->rootfd);
  return 0;
}
