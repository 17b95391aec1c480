// LayerWriter::add_tree: a directory tree (plain, or an overlayfs upper dir)
// as layer entries, in a canonical order: each directory's names sorted
// bytewise, depth first. Hardlinked files are stored once and linked after.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <vector>

#include "cache/layer_writer_impl.h"
#include "common/file_util.h"
#include "common/unique_fd.h"

namespace gantry::cache {

namespace {

bool is_overlay_xattr(std::string_view name) {
  return name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.");
}

// Sorted (name, value) xattrs of path, overlayfs' own ones left out.
Result<std::vector<std::pair<std::string, std::string>>> read_xattrs(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> out;
  ssize_t len = ::llistxattr(path.c_str(), nullptr, 0);
  if (len < 0) {
    if (errno == ENOTSUP || errno == EPERM) return out;
    return fail_sys("listxattr", path);
  }
  if (len == 0) return out;
  std::string names(static_cast<std::size_t>(len), '\0');
  len = ::llistxattr(path.c_str(), names.data(), names.size());
  if (len < 0) return fail_sys("listxattr", path);
  names.resize(static_cast<std::size_t>(len));
  for (std::size_t i = 0; i < names.size();) {
    std::string name(names.c_str() + i);
    i += name.size() + 1;
    if (name.empty() || is_overlay_xattr(name)) continue;
    ssize_t vlen = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (vlen < 0) continue;  // vanished or not readable by us
    std::string value(static_cast<std::size_t>(vlen), '\0');
    vlen = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (vlen < 0) continue;
    value.resize(static_cast<std::size_t>(vlen));
    out.emplace_back(std::move(name), std::move(value));
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool is_opaque(const std::string& path) {
  char v[4];
  for (const char* name : {"trusted.overlay.opaque", "user.overlay.opaque"}) {
    ssize_t n = ::lgetxattr(path.c_str(), name, v, sizeof v);
    if (n == 1 && v[0] == 'y') return true;
  }
  return false;
}

struct TreeWalker {
  LayerWriter::Impl& im;
  bool upper;
  std::map<std::pair<dev_t, ino_t>, std::string> first_link;
  std::unique_ptr<std::array<char, 1 << 17>> buf = std::make_unique<std::array<char, 1 << 17>>();

  static std::string join(const std::string& dir, const std::string& name) {
    return dir.empty() ? name : dir + "/" + name;
  }

  Status add_xattrs(archive_entry* e, const std::string& path) {
    auto xattrs = TRY(read_xattrs(path));
    for (const auto& [name, value] : xattrs) archive_entry_xattr_add_entry(e, name.c_str(), value.data(), value.size());
    return {};
  }

  Status empty_marker(const std::string& rel) {
    auto* e = TRY(im.begin(rel, AE_IFREG, 0, 0, 0, im.options.epoch));
    archive_entry_set_size(e, 0);
    return im.write_header(rel);
  }

  Status walk(const std::string& abs_dir, const std::string& rel_dir) {
    auto names = TRY(list_dir(abs_dir));
    for (const std::string& name : names) {
      std::string abs = abs_dir + "/" + name;
      std::string rel = join(rel_dir, name);
      struct stat st {};
      if (::lstat(abs.c_str(), &st) != 0) return fail_sys("stat", abs);
      TRY(add(abs, rel, st, rel_dir, name));
    }
    return {};
  }

  Status add(const std::string& abs, const std::string& rel, const struct stat& st, const std::string& rel_dir,
             const std::string& name) {
    const mode_t type = st.st_mode & S_IFMT;
    if (upper && type == S_IFCHR && st.st_rdev == makedev(0, 0))
      return empty_marker(join(rel_dir, ".wh." + name));
    if (type == S_IFSOCK) return {};  // tar does not store sockets either

    if (type == S_IFREG && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto it = first_link.find(key);
      if (it != first_link.end()) {
        auto* e = TRY(im.begin(rel, AE_IFREG, st.st_mode, st.st_uid, st.st_gid, st.st_mtime));
        archive_entry_set_hardlink(e, it->second.c_str());
        archive_entry_set_size(e, 0);
        return im.write_header(rel);
      }
      first_link.emplace(key, TRY(normalize_layer_path(rel)));
    }

    mode_t ae_type = type == S_IFDIR ? AE_IFDIR : type == S_IFREG ? AE_IFREG : type == S_IFLNK ? AE_IFLNK
                   : type == S_IFCHR ? AE_IFCHR : type == S_IFBLK ? AE_IFBLK : AE_IFIFO;
    const EntryOverride* over = nullptr;
    if (im.options.overrides) {
      auto it = im.options.overrides->find(rel);
      if (it != im.options.overrides->end()) over = &it->second;
    }
    if (over && over->device && type == S_IFREG) {  // a placeholder for a device node
      auto* d = TRY(im.begin(rel, (over->device & S_IFMT) == S_IFBLK ? AE_IFBLK : AE_IFCHR, over->device, over->uid,
                             over->gid, st.st_mtime));
      archive_entry_set_rdev(d, over->rdev);
      TRY(add_xattrs(d, abs));
      return im.write_header(rel);
    }
    auto* e = TRY(im.begin(rel, ae_type, st.st_mode, over ? over->uid : st.st_uid, over ? over->gid : st.st_gid,
                           st.st_mtime));
    TRY(add_xattrs(e, abs));
    switch (type) {
      case S_IFDIR: {
        TRY(im.write_header(rel));
        if (upper && is_opaque(abs)) TRY(empty_marker(rel + "/.wh..wh..opq"));
        return walk(abs, rel);
      }
      case S_IFLNK: {
        std::string target(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 4096) + 1, '\0');
        ssize_t n = ::readlink(abs.c_str(), target.data(), target.size());
        if (n < 0) return fail_sys("readlink", abs);
        target.resize(static_cast<std::size_t>(n));
        archive_entry_set_symlink(e, target.c_str());
        return im.write_header(rel);
      }
      case S_IFCHR:
      case S_IFBLK:
        archive_entry_set_rdev(e, st.st_rdev);
        return im.write_header(rel);
      case S_IFIFO:
        return im.write_header(rel);
      default:
        break;
    }
    // A regular file.
    UniqueFd fd(::open(abs.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return fail_sys("open", abs);
    archive_entry_set_size(e, st.st_size);
    TRY(im.write_header(rel));
    std::uint64_t left = static_cast<std::uint64_t>(st.st_size);
    while (left > 0) {
      ssize_t n = ::read(fd.get(), buf->data(), std::min<std::uint64_t>(left, buf->size()));
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail_sys("read", abs);
      }
      if (n == 0) return fail(ErrorKind::io, "file " + abs + " shrank while it was being added to a layer");
      TRY(im.write_data(buf->data(), static_cast<std::size_t>(n), rel));
      left -= static_cast<std::uint64_t>(n);
    }
    return {};
  }
};

}  // namespace

Status LayerWriter::add_tree(const std::string& dir, bool overlay_upper, std::string_view prefix) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return fail_sys("stat", dir);
  if (!S_ISDIR(st.st_mode)) return fail(ErrorKind::invalid_input, dir + " is not a directory");
  std::string clean_prefix = TRY(normalize_layer_path(prefix));
  TreeWalker walker{*impl_, overlay_upper, {}};
  if (overlay_upper && clean_prefix.empty() && is_opaque(dir)) TRY(walker.empty_marker(".wh..wh..opq"));
  TRY_CTX(walker.walk(dir, clean_prefix), "layer from " + dir);
  return {};
}

}  // namespace gantry::cache
