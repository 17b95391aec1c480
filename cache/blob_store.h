// blobs/sha256/<hex>: content-addressed, immutable, written atomically
// (tmp + fsync + rename + fsync dir), so a half-written blob is never visible.
// Several processes may write the same blob at once: the last rename wins and
// both wrote the same bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/store_paths.h"
#include "common/digest.h"
#include "common/unique_fd.h"

namespace gantry::cache {

// An incremental blob: write() chunks, then commit() checks the digest
// (when expected is given) and publishes it. Destroyed without commit() =
// aborted: the temp file is removed.
class BlobWriter {
 public:
  BlobWriter(BlobWriter&& other) noexcept;
  BlobWriter& operator=(BlobWriter&& other) noexcept;
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;
  ~BlobWriter();

  Status write(const void* data, std::size_t size);
  Status write(std::string_view data) { return write(data.data(), data.size()); }
  std::uint64_t size() const { return size_; }
  // Verifies (corrupt error naming both digests on mismatch), fsyncs, renames
  // into blobs/. Returns the digest of what was written.
  Result<Digest> commit(std::optional<Digest> expected = std::nullopt);
  void abort();

 private:
  friend class BlobStore;
  BlobWriter(const StorePaths* paths, std::string tmp_path, UniqueFd fd)
      : paths_(paths), tmp_path_(std::move(tmp_path)), fd_(std::move(fd)) {}
  const StorePaths* paths_ = nullptr;
  std::string tmp_path_;
  UniqueFd fd_;
  Sha256 hash_;
  std::uint64_t size_ = 0;
};

class BlobStore {
 public:
  // tmp_dir: where temp files go (same filesystem as blobs/).
  BlobStore(const StorePaths& paths, std::string tmp_dir) : paths_(&paths), tmp_dir_(std::move(tmp_dir)) {}

  Result<BlobWriter> writer() const;
  Result<Digest> put(std::string_view data, std::optional<Digest> expected = std::nullopt) const;
  // Copies a file in (verifying `expected` when given).
  Result<Digest> put_file(const std::string& path, std::optional<Digest> expected = std::nullopt) const;

  bool has(const Digest& d) const;
  std::string path(const Digest& d) const { return paths_->blob(d); }
  Result<std::uint64_t> size(const Digest& d) const;
  // Whole blob in memory (configs, manifests); verify=true re-hashes it.
  Result<std::string> read(const Digest& d, bool verify = true) const;
  // Re-hashes the stored file: corrupt error when it does not match its name.
  Status verify(const Digest& d) const;
  // Every blob name; non-digest names in blobs/sha256 are reported in `strays`.
  Result<std::vector<Digest>> list(std::vector<std::string>* strays = nullptr) const;
  Status remove(const Digest& d) const;

 private:
  const StorePaths* paths_;
  std::string tmp_dir_;
};

}  // namespace gantry::cache
