#include "cache/gzip_stream.h"

#include <zlib.h>

#include <algorithm>

namespace gantry::cache {

namespace {
constexpr std::size_t kMaxInflight = 6;
}

GzipBlobStream::GzipBlobStream(BlobWriter writer, int level) : writer_(std::move(writer)), level_(level) {
  current_.reserve(kChunk);
  crc_ = crc32(0L, Z_NULL, 0);
  unsigned n = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
  for (unsigned i = 0; i < n; ++i) workers_.emplace_back([this] { worker(); });
}

GzipBlobStream::~GzipBlobStream() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void GzipBlobStream::worker() {
  std::string out;
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    z_stream z{};
    std::optional<Error> err;
    // Raw deflate: the gzip header and trailer are written around the chunks.
    if (deflateInit2(&z, level_, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      err = Error(ErrorKind::internal, "zlib: deflateInit2 failed");
    } else {
      if (!job->dict.empty())
        deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(job->dict.data()), static_cast<uInt>(job->dict.size()));
      out.resize(deflateBound(&z, job->input.size()) + 64);
      z.next_in = reinterpret_cast<Bytef*>(job->input.data());
      z.avail_in = static_cast<uInt>(job->input.size());
      z.next_out = reinterpret_cast<Bytef*>(out.data());
      z.avail_out = static_cast<uInt>(out.size());
      int rc = deflate(&z, job->last ? Z_FINISH : Z_SYNC_FLUSH);
      if ((job->last && rc != Z_STREAM_END) || (!job->last && (rc != Z_OK || z.avail_in != 0)) || z.avail_out == 0)
        err = Error(ErrorKind::internal, "zlib: deflate of a layer chunk failed");
      out.resize(out.size() - z.avail_out);
      deflateEnd(&z);
    }
    unsigned long crc = crc32(0L, reinterpret_cast<const Bytef*>(job->input.data()), static_cast<uInt>(job->input.size()));
    {
      std::lock_guard lock(mu_);
      if (err && !error_) error_ = std::move(err);
      job->output.assign(out);
      job->crc = crc;
      job->input = std::string();
      job->done = true;
    }
    done_cv_.notify_all();
  }
}

Status GzipBlobStream::write_out(const void* data, std::size_t size) { return writer_.write(data, size); }

Status GzipBlobStream::drain(bool wait_all) {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mu_);
      auto ready = [&] {
        auto it = inflight_.find(next_out_);
        return error_ || (it != inflight_.end() && it->second->done);
      };
      bool must_wait = wait_all ? !inflight_.empty() : inflight_.size() >= kMaxInflight;
      if (must_wait)
        done_cv_.wait(lock, ready);
      if (error_) return std::unexpected(*error_);
      auto it = inflight_.find(next_out_);
      if (it == inflight_.end() || !it->second->done) return {};
      job = std::move(it->second);
      inflight_.erase(it);
    }
    ++next_out_;
    crc_ = crc32_combine(crc_, job->crc, static_cast<z_off_t>(job->in_len));
    TRY(write_out(job->output.data(), job->output.size()));
  }
}

Status GzipBlobStream::submit(bool last) {
  if (!header_written_) {
    // Fixed gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS unix.
    static constexpr unsigned char kHeader[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    TRY(write_out(kHeader, sizeof kHeader));
    header_written_ = true;
  }
  auto job = std::make_shared<Job>();
  job->seq = next_seq_++;
  job->last = last;
  job->dict = prev_tail_;
  // Every chunk but the last is exactly kChunk (> kWindow) long.
  prev_tail_ = current_.substr(current_.size() - std::min(kWindow, current_.size()));
  job->in_len = current_.size();
  total_in_ += current_.size();
  job->input = std::move(current_);
  current_ = std::string();
  current_.reserve(kChunk);
  {
    std::lock_guard lock(mu_);
    inflight_.emplace(job->seq, job);
    queue_.push_back(std::move(job));
  }
  work_cv_.notify_one();
  return drain(false);
}

Status GzipBlobStream::write(const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    std::size_t n = std::min(size, kChunk - current_.size());
    current_.append(p, n);
    p += n;
    size -= n;
    if (current_.size() == kChunk) TRY(submit(false));
  }
  return {};
}

Result<Digest> GzipBlobStream::finish() {
  TRY(submit(true));
  TRY(drain(true));
  unsigned char trailer[8];
  std::uint32_t crc = static_cast<std::uint32_t>(crc_);
  std::uint32_t isize = static_cast<std::uint32_t>(total_in_ & 0xffffffffu);
  for (int i = 0; i < 4; ++i) {
    trailer[i] = static_cast<unsigned char>(crc >> (8 * i));
    trailer[4 + i] = static_cast<unsigned char>(isize >> (8 * i));
  }
  TRY(write_out(trailer, sizeof trailer));
  return writer_.commit();
}

}  // namespace gantry::cache
