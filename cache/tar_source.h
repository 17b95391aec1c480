// Private to cache/: reading a tar archive (plain or gzip'd) with libarchive
// while hashing the uncompressed stream (a layer's diffID). gzip is inflated
// here with zlib so the uncompressed bytes can be hashed as they pass; other
// compressions (xz, bzip2, zstd: rootfs tarballs only) are left to libarchive
// and then no diffID is available.
//
// A layer says what its compression is (its media type): the first bytes
// must agree (magic numbers), or the archive is refused before any entry is
// read. The uncompressed stream and the sizes the entries declare (a sparse
// file counts with its full size) are each bounded by max_bytes: an
// expansion bomb stops at the limit, with an error naming it.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/unique_fd.h"

namespace gantry::cache {

enum class Compression { any, none, gzip, bzip2, xz, zstd };
const char* compression_name(Compression c);

struct TarSourceOptions {
  Compression expect = Compression::any;  // any: rootfs tarballs (whatever libarchive reads)
  std::uint64_t max_bytes = UINT64_MAX;   // uncompressed stream, and the entries' declared sizes
  std::string limit_name;                 // where the limit comes from, for the error
  bool hash_file = false;                 // also hash the file's own bytes (a blob's digest), same pass
};

class TarSource {
 public:
  static Result<std::unique_ptr<TarSource>> open(const std::string& path, const TarSourceOptions& options = {});
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
  // After finish(), with hash_file: the sha256 of the file's bytes.
  std::optional<Digest> file_digest() const { return file_digest_; }

 private:
  TarSource() = default;
  static la_ssize_t on_read(archive*, void* self, const void** buf);
  Result<std::size_t> produce();  // fills out_ with the next uncompressed bytes

  Status over_limit(const char* what, std::uint64_t bytes) const;

  std::string path_;
  TarSourceOptions options_;
  std::uint64_t produced_ = 0;  // uncompressed bytes so far
  std::uint64_t declared_ = 0;  // sum of the regular entries' sizes
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
  Sha256 file_hash_;  // gzip with hash_file only (else the file's bytes are hash_'s)
  std::optional<Digest> file_digest_;
  std::optional<Error> stream_error_;
};

}  // namespace gantry::cache
