// Private to cache/: a deterministic, parallel gzip compressor that stores
// what it produces into a BlobWriter (hashing it on the way).
//
// The input is cut into fixed 1 MiB chunks; each chunk is deflated on a
// worker thread with the previous chunk's last 32 KiB as its dictionary and
// ends with a sync flush (the last one with the final block), as pigz does.
// The chunk size, level and dictionary are fixed, so the output is the same
// bytes whatever the number of threads or their timing: one valid gzip member
// with a fixed header (no name, mtime 0). Memory stays bounded: at most a few
// chunks are in flight.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cache/blob_store.h"

namespace gantry::cache {

class GzipBlobStream {
 public:
  GzipBlobStream(BlobWriter writer, int level);
  ~GzipBlobStream();  // stops the workers; the blob is aborted unless finished
  GzipBlobStream(const GzipBlobStream&) = delete;
  GzipBlobStream& operator=(const GzipBlobStream&) = delete;

  // Queues bytes (copied). Returns the first error of compression or storage.
  Status write(const void* data, std::size_t size);
  // Compresses what is left, writes the gzip trailer, commits the blob.
  Result<Digest> finish();
  std::uint64_t compressed_size() const { return writer_.size(); }

  static constexpr std::size_t kChunk = 1 << 20;
  static constexpr std::size_t kWindow = 32 << 10;

 private:
  struct Job {
    std::uint64_t seq = 0;
    std::string input;
    std::string dict;  // last 32 KiB of the previous chunk
    bool last = false;
    std::string output;
    std::size_t in_len = 0;
    unsigned long crc = 0;
    bool done = false;
  };
  void worker();
  Status submit(bool last);
  Status drain(bool wait_all);  // writes finished jobs in order
  Status write_out(const void* data, std::size_t size);

  BlobWriter writer_;
  int level_;
  std::string current_;
  std::string prev_tail_;
  std::uint64_t next_seq_ = 0;   // next job to submit
  std::uint64_t next_out_ = 0;   // next job to write
  unsigned long crc_ = 0;
  std::uint64_t total_in_ = 0;
  bool header_written_ = false;

  std::mutex mu_;
  std::condition_variable work_cv_;  // workers wait for jobs
  std::condition_variable done_cv_;  // the producer waits for results
  std::deque<std::shared_ptr<Job>> queue_;
  std::map<std::uint64_t, std::shared_ptr<Job>> inflight_;
  bool stopping_ = false;
  std::optional<Error> error_;
  std::vector<std::thread> workers_;
};

}  // namespace gantry::cache
