#include "tests/cache/cache_test_util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cache/image_store.h"
#include "common/digest.h"
#include "common/file_util.h"

namespace gantry::cache::testing {

void write_tar(const std::string& path, const std::vector<TarEntry>& entries, bool gzip) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK) << archive_error_string(a);
  for (const auto& e : entries) {
    archive_entry* en = archive_entry_new();
    archive_entry_set_pathname(en, e.name.c_str());
    archive_entry_set_perm(en, e.mode);
    archive_entry_set_mtime(en, 1000, 0);
    switch (e.type) {
      case 'd': archive_entry_set_filetype(en, AE_IFDIR); break;
      case 'l':
        archive_entry_set_filetype(en, AE_IFLNK);
        archive_entry_set_symlink(en, e.data.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(en, AE_IFREG);
        archive_entry_set_hardlink(en, e.data.c_str());
        break;
      case 'c':
        archive_entry_set_filetype(en, AE_IFCHR);
        archive_entry_set_rdev(en, makedev(e.major, e.minor));
        break;
      default:
        archive_entry_set_filetype(en, AE_IFREG);
        archive_entry_set_size(en, static_cast<la_int64_t>(e.data.size()));
    }
    ASSERT_EQ(archive_write_header(a, en), ARCHIVE_OK) << archive_error_string(a);
    if (e.type == 'f' && !e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(en);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::unique_ptr<Store> open_store(const std::string& dir, StoreLock lock) {
  auto s = Store::open(dir, lock);
  if (!s) {
    ADD_FAILURE() << s.error().message();
    return nullptr;
  }
  return std::move(*s);
}

namespace {
void walk(const std::string& root, const std::string& rel, bool with_mtime, std::map<std::string, std::string>& out) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d))
    if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..") names.push_back(e->d_name);
  ::closedir(d);
  for (const auto& n : names) {
    std::string r = rel.empty() ? n : rel + "/" + n;
    std::string p = root + "/" + r;
    struct stat st {};
    ::lstat(p.c_str(), &st);
    std::ostringstream s;
    s << std::oct << st.st_mode << std::dec << " " << st.st_uid << ":" << st.st_gid;
    if (S_ISREG(st.st_mode)) {
      s << " " << st.st_size << " " << digest_file(p)->hex().substr(0, 16);
    } else if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t len = ::readlink(p.c_str(), buf, sizeof buf);
      s << " -> " << std::string(buf, len > 0 ? static_cast<std::size_t>(len) : 0);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      s << " dev " << major(st.st_rdev) << "," << minor(st.st_rdev);
    }
    if (with_mtime && !S_ISLNK(st.st_mode)) s << " mtime " << st.st_mtime;
    out[r] = s.str();
    if (S_ISDIR(st.st_mode)) walk(root, r, with_mtime, out);
  }
}
}  // namespace

std::map<std::string, std::string> snapshot_tree(const std::string& dir, bool with_mtime) {
  std::map<std::string, std::string> out;
  walk(dir, "", with_mtime, out);
  return out;
}

std::string snapshot_store(const std::string& store_dir) {
  std::ostringstream out;
  for (const char* sub : {"blobs/sha256", "layers"}) {
    std::vector<std::string> names;
    if (DIR* d = ::opendir((store_dir + "/" + sub).c_str())) {
      while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') names.push_back(e->d_name);
      ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    for (const auto& n : names) out << sub << "/" << n << "\n";
  }
  auto store = Store::open(store_dir);
  if (store) {
    if (auto tags = (*store)->images().list())
      for (const auto& t : *tags) out << "tag " << t.name << ":" << t.tag << " " << t.digest.str() << "\n";
  }
  return out.str();
}

void make_sample_tree(const std::string& dir) {
  using gantry::testing::write_file;
  write_file(dir + "/etc/config.txt", "key=value\n");
  write_file(dir + "/bin/tool", "#!/bin/sh\necho hi\n", 0755);
  write_file(dir + "/data/empty", "");
  write_file(dir + "/data/big.bin", std::string(300000, 'x') + "tail");
  ::mkdir((dir + "/emptydir").c_str(), 0750);
  ::symlink("../etc/config.txt", (dir + "/data/link").c_str());
  ::link((dir + "/bin/tool").c_str(), (dir + "/bin/tool-hardlink").c_str());
}

std::string write_oci_layout(const std::string& dir, const std::string& layer_path, const std::string& media_type,
                             const std::string& diff_id) {
  using nlohmann::json;
  auto put = [&](const std::string& bytes) {
    Digest d = Digest::of(bytes);
    gantry::testing::write_file(dir + "/blobs/sha256/" + d.hex(), bytes);
    return d;
  };
  std::string layer = gantry::testing::read_file_or_die(layer_path);
  Digest layer_digest = put(layer);
  std::string config = json{{"architecture", "amd64"},
                            {"os", "linux"},
                            {"config", json::object()},
                            {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}}}
                           .dump();
  Digest config_digest = put(config);
  std::string manifest =
      json{{"schemaVersion", 2},
           {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
           {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", config_digest.str()}, {"size", config.size()}}},
           {"layers", {{{"mediaType", media_type}, {"digest", layer_digest.str()}, {"size", layer.size()}}}}}
          .dump();
  Digest manifest_digest = put(manifest);
  gantry::testing::write_file(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  gantry::testing::write_file(
      dir + "/index.json",
      json{{"schemaVersion", 2},
           {"manifests", {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", manifest_digest.str()}, {"size", manifest.size()}}}}}
          .dump());
  return manifest_digest.str();
}

}  // namespace gantry::cache::testing
