// Private to cache/: reading a tar archive (plain or gzip'd) with libarchive
// while hashing the uncompressed stream (a layer's diffID). gzip is inflated
// here with zlib so the uncompressed bytes can be hashed as they pass; other
// compressions (xz, bzip2, zstd: rootfs tarballs only) are left to libarchive
// and then no diffID is available.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/unique_fd.h"

namespace gantry::cache {

class TarSource {
 public:
  static Result<std::unique_ptr<TarSource>> open(const std::string& path);
  ~TarSource();
  TarSource(const TarSource&) = delete;
  TarSource& operator=(const TarSource&) = delete;

  archive* get() { return ar_; }
  const std::string& path() const { return path_; }
  // Next header; nullptr at the end. Errors name the archive file.
  Result<archive_entry*> next();
  // libarchive's last error, or the decompressor's, as an Error.
  Error error(const std::string& what) const;
  // Reads what is left of the stream (tar padding after the end marker) and
  // returns the uncompressed digest; nullopt when libarchive decompressed.
  Result<std::optional<Digest>> finish();

 private:
  TarSource() = default;
  static la_ssize_t on_read(archive*, void* self, const void** buf);
  Result<std::size_t> produce();  // fills out_ with the next uncompressed bytes

  std::string path_;
  UniqueFd fd_;
  archive* ar_ = nullptr;
  bool gzip_ = false;
  bool raw_passthrough_ = false;  // libarchive decompresses (no diffID)
  z_stream z_{};
  bool z_init_ = false;
  bool z_member_done_ = false;
  bool eof_ = false;
  std::vector<unsigned char> in_;
  std::size_t in_pos_ = 0, in_len_ = 0;
  std::vector<unsigned char> out_;
  Sha256 hash_;
  std::optional<Error> stream_error_;
};

}  // namespace gantry::cache
