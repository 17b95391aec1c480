#include "cache/gzip_stream.h"

#include <zlib.h>

#include <cstring>
#include <vector>

namespace gantry::cache {

GzipBlobStream::GzipBlobStream(BlobWriter writer, int level) : writer_(std::move(writer)), level_(level) {
  current_.reserve(kChunk);
  thread_ = std::thread([this] { run(); });
}

GzipBlobStream::~GzipBlobStream() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    stopped_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GzipBlobStream::push_chunk() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return queue_.size() < kMaxQueued || error_ || stopped_; });
  queue_.push_back(std::move(current_));
  current_ = std::string();
  current_.reserve(kChunk);
  cv_.notify_all();
}

Status GzipBlobStream::write(const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    std::size_t n = std::min(size, kChunk - current_.size());
    current_.append(p, n);
    p += n;
    size -= n;
    if (current_.size() == kChunk) {
      push_chunk();
      std::lock_guard lock(mu_);
      if (error_) return std::unexpected(*error_);
    }
  }
  return {};
}

void GzipBlobStream::run() {
  z_stream z{};
  // windowBits 15+16: a gzip wrapper with zlib's default header (no name,
  // no comment, mtime 0, OS 3): the same bytes on every machine.
  if (deflateInit2(&z, level_, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    std::lock_guard lock(mu_);
    error_ = Error(ErrorKind::internal, "zlib: deflateInit2 failed");
    cv_.notify_all();
    return;
  }
  std::vector<unsigned char> out(1 << 18);
  auto fail_with = [&](Error e) {
    std::lock_guard lock(mu_);
    if (!error_) error_ = std::move(e);
    cv_.notify_all();
  };
  for (;;) {
    std::string chunk;
    bool last = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || closing_; });
      if (stopped_) break;
      if (!queue_.empty()) {
        chunk = std::move(queue_.front());
        queue_.pop_front();
      }
      last = closing_ && queue_.empty();
      cv_.notify_all();
    }
    z.next_in = reinterpret_cast<unsigned char*>(chunk.data());
    z.avail_in = static_cast<uInt>(chunk.size());
    int flush = last ? Z_FINISH : Z_NO_FLUSH;
    bool failed = false;
    for (;;) {
      z.next_out = out.data();
      z.avail_out = static_cast<uInt>(out.size());
      int rc = deflate(&z, flush);
      if (rc == Z_STREAM_ERROR) {
        fail_with(Error(ErrorKind::internal, "zlib: deflate failed"));
        failed = true;
        break;
      }
      std::size_t have = out.size() - z.avail_out;
      if (have > 0) {
        if (auto st = writer_.write(out.data(), have); !st) {
          fail_with(st.error());
          failed = true;
          break;
        }
      }
      if (flush == Z_FINISH ? rc == Z_STREAM_END : (z.avail_in == 0 && z.avail_out != 0)) break;
    }
    if (failed || last) break;
  }
  deflateEnd(&z);
}

Result<Digest> GzipBlobStream::finish() {
  if (!current_.empty()) push_chunk();
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (error_) return std::unexpected(*error_);
  return writer_.commit();
}

}  // namespace gantry::cache
