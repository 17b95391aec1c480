// Private to cache/: the state of a LayerWriter, shared by layer_writer.cpp
// (explicit entries) and layer_tree.cpp (directory trees).
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include "cache/gzip_stream.h"
#include "cache/layer_path.h"
#include "cache/layer_writer.h"

namespace gantry::cache {

struct LayerWriter::Impl {
  Store* store = nullptr;
  LayerOptions options;
  std::unique_ptr<GzipBlobStream> gzip;
  Sha256 diff_hash;
  std::optional<Error> write_error;  // from the archive write callback
  archive* ar = nullptr;
  archive_entry* entry = nullptr;
  bool finished = false;

  ~Impl() {
    if (entry) archive_entry_free(entry);
    if (ar) archive_write_free(ar);  // also closes: gzip is aborted below
  }

  static la_ssize_t on_write(archive*, void* self, const void* buf, size_t n) {
    auto* impl = static_cast<Impl*>(self);
    impl->diff_hash.update(buf, n);
    if (auto st = impl->gzip->write(buf, n); !st) {
      impl->write_error = st.error();
      return -1;
    }
    return static_cast<la_ssize_t>(n);
  }

  Error archive_error(const std::string& what) {
    if (write_error) return write_error->context(what);
    const char* msg = archive_error_string(ar);
    return Error(ErrorKind::internal, what + ": libarchive: " + (msg ? msg : "unknown error"));
  }

  // Starts an entry with the common, normalised fields.
  Result<archive_entry*> begin(std::string_view path, mode_t type, mode_t mode, uid_t uid, gid_t gid,
                               std::int64_t mtime) {
    if (finished) return fail(ErrorKind::internal, "layer writer used after finish()");
    std::string clean = TRY(normalize_layer_path(path));
    if (clean.empty()) return fail(ErrorKind::invalid_input, "layer entry with an empty path");
    archive_entry_clear(entry);
    archive_entry_set_pathname(entry, clean.c_str());
    archive_entry_set_filetype(entry, type);
    archive_entry_set_perm(entry, mode & 07777);
    archive_entry_set_uid(entry, uid);
    archive_entry_set_gid(entry, gid);
    archive_entry_set_mtime(entry, std::min(mtime, options.epoch), 0);
    return entry;
  }

  Status write_header(std::string_view path) {
    if (archive_write_header(ar, entry) != ARCHIVE_OK) return fail(archive_error("writing layer entry " + std::string(path)));
    return {};
  }

  Status write_data(const char* p, std::size_t n, std::string_view path) {
    while (n > 0) {
      la_ssize_t w = archive_write_data(ar, p, n);
      if (w < 0) return fail(archive_error("writing layer entry " + std::string(path)));
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return {};
  }
};

}  // namespace gantry::cache
