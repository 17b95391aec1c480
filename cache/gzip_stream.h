// Private to cache/: a deterministic gzip compressor (zlib, fixed header: no
// name, mtime 0) that runs on its own thread, hashing and storing what it
// produces into a BlobWriter. The producer pushes uncompressed bytes; the
// queue is bounded, so memory stays small whatever the input size.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cache/blob_store.h"

namespace gantry::cache {

class GzipBlobStream {
 public:
  GzipBlobStream(BlobWriter writer, int level);
  ~GzipBlobStream();  // stops the thread; the blob is aborted unless finished
  GzipBlobStream(const GzipBlobStream&) = delete;
  GzipBlobStream& operator=(const GzipBlobStream&) = delete;

  // Queues bytes (copied). Returns the compressor's error once it failed.
  Status write(const void* data, std::size_t size);
  // Flushes, ends the gzip stream, commits the blob.
  Result<Digest> finish();
  std::uint64_t compressed_size() const { return writer_.size(); }

 private:
  void run();
  void push_chunk();
  static constexpr std::size_t kChunk = 1 << 20;
  static constexpr std::size_t kMaxQueued = 4;

  BlobWriter writer_;
  int level_;
  std::string current_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool closing_ = false;
  bool stopped_ = false;
  std::optional<Error> error_;
  std::thread thread_;
};

}  // namespace gantry::cache
