#include "cache/tar_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

namespace gantry::cache {

const char* compression_name(Compression c) {
  switch (c) {
    case Compression::any: return "any";
    case Compression::none: return "uncompressed";
    case Compression::gzip: return "gzip";
    case Compression::bzip2: return "bzip2";
    case Compression::xz: return "xz";
    case Compression::zstd: return "zstd";
  }
  return "?";
}

namespace {

Compression sniff(const unsigned char* m, ssize_t n) {
  if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b) return Compression::gzip;
  if (n >= 3 && m[0] == 'B' && m[1] == 'Z' && m[2] == 'h') return Compression::bzip2;
  if (n >= 6 && m[0] == 0xfd && m[1] == '7' && m[2] == 'z' && m[3] == 'X' && m[4] == 'Z' && m[5] == 0) return Compression::xz;
  if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) return Compression::zstd;
  return Compression::none;
}

std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  double v = static_cast<double>(n);
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  char buf[48];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(n));
  else std::snprintf(buf, sizeof buf, "%.3g %s", v, units[u]);
  return buf;
}

}  // namespace

Status TarSource::over_limit(const char* what, std::uint64_t bytes) const {
  return fail(ErrorKind::invalid_input,
              std::string(what) + " " + (bytes == UINT64_MAX ? "more than " + human_bytes(options_.max_bytes) : human_bytes(bytes)) +
                  ", over the limit of " + human_bytes(options_.max_bytes) + " for one layer" +
                  (options_.limit_name.empty() ? "" : " (" + options_.limit_name + ")") + ": refused");
}

Result<std::unique_ptr<TarSource>> TarSource::open(const std::string& path, const TarSourceOptions& options) {
  std::unique_ptr<TarSource> src(new TarSource());
  src->path_ = path;
  src->options_ = options;
  src->fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!src->fd_) return fail_sys("open", path);
  // Large reads: fewer syscalls and libarchive callbacks; an entry's data
  // comes out of libarchive in pieces of at most this size.
  src->in_.resize(1 << 18);
  src->out_.resize(1 << 20);
  // Sniff the compression from the first bytes; a layer's must be the one
  // its media type says.
  unsigned char magic[6] = {};
  ssize_t n = ::pread(src->fd_.get(), magic, sizeof magic, 0);
  if (n < 0) return fail_sys("read", path);
  Compression actual = sniff(magic, n);
  if (options.expect != Compression::any && actual != options.expect)
    return fail(ErrorKind::invalid_input, path + ": the layer's media type says " + compression_name(options.expect) +
                                              " but its bytes are " + compression_name(actual) +
                                              (actual == Compression::none ? " (no known compression magic)" : "") +
                                              ": refused (a layer's compression must match its media type)");
  if (actual == Compression::gzip) {
    src->gzip_ = true;
    if (inflateInit2(&src->z_, 15 + 16) != Z_OK) return fail(ErrorKind::internal, "zlib: inflateInit2 failed");
    src->z_init_ = true;
  } else if (actual != Compression::none) {
    src->raw_passthrough_ = true;
  }
  src->ar_ = archive_read_new();
  if (!src->ar_) return fail(ErrorKind::internal, "libarchive: out of memory");
  archive_read_support_format_tar(src->ar_);
  if (src->raw_passthrough_) archive_read_support_filter_all(src->ar_);
  if (archive_read_open2(src->ar_, src.get(), nullptr, &TarSource::on_read, nullptr, nullptr) != ARCHIVE_OK)
    return fail(src->error("reading"));
  return src;
}

TarSource::~TarSource() {
  if (ar_) archive_read_free(ar_);
  if (z_init_) inflateEnd(&z_);
}

Error TarSource::error(const std::string& what) const {
  if (stream_error_) return stream_error_->context(what + " " + path_);
  const char* msg = ar_ ? archive_error_string(ar_) : nullptr;
  return Error(ErrorKind::invalid_input,
               what + " " + path_ + ": " + (msg ? msg : "not a valid tar archive"));
}

Result<std::size_t> TarSource::produce() {
  if (!gzip_) {  // the file's bytes as they are: read straight into out_
    if (eof_) return 0;
    ssize_t n;
    do n = ::read(fd_.get(), out_.data(), out_.size());
    while (n < 0 && errno == EINTR);
    if (n < 0) return fail_sys("read", path_);
    if (n == 0) {
      eof_ = true;
      return 0;
    }
    if (!raw_passthrough_) {
      produced_ += static_cast<std::size_t>(n);
      if (produced_ > options_.max_bytes) return fail(over_limit("the uncompressed stream is", UINT64_MAX).error());
      hash_.update(out_.data(), static_cast<std::size_t>(n));
    }
    return static_cast<std::size_t>(n);
  }
  for (;;) {
    if (in_pos_ == in_len_ && !eof_) {
      ssize_t n;
      do n = ::read(fd_.get(), in_.data(), in_.size());
      while (n < 0 && errno == EINTR);
      if (n < 0) return fail_sys("read", path_);
      in_pos_ = 0;
      in_len_ = static_cast<std::size_t>(n);
      if (n == 0) eof_ = true;
      if (options_.hash_file) file_hash_.update(in_.data(), in_len_);
    }
    if (z_member_done_) {
      if (in_pos_ == in_len_ && eof_) return 0;
      // Another gzip member follows (concatenated gzip): continue with it.
      if (inflateReset(&z_) != Z_OK) return fail(ErrorKind::internal, "zlib: inflateReset failed");
      z_member_done_ = false;
    }
    if (in_pos_ == in_len_ && eof_)
      return fail(ErrorKind::invalid_input, "truncated gzip stream: the file ends before the compressed data does");
    z_.next_in = in_.data() + in_pos_;
    z_.avail_in = static_cast<uInt>(in_len_ - in_pos_);
    z_.next_out = out_.data();
    z_.avail_out = static_cast<uInt>(out_.size());
    int rc = inflate(&z_, Z_NO_FLUSH);
    in_pos_ = in_len_ - z_.avail_in;
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_MEM_ERROR || rc == Z_STREAM_ERROR)
      return fail(ErrorKind::invalid_input,
                  std::string("corrupt gzip stream: ") + (z_.msg ? z_.msg : "inflate failed"));
    if (rc == Z_STREAM_END) z_member_done_ = true;
    std::size_t have = out_.size() - z_.avail_out;
    if (have > 0) {
      produced_ += have;
      if (produced_ > options_.max_bytes) return fail(over_limit("the uncompressed stream is", UINT64_MAX).error());
      hash_.update(out_.data(), have);
      return have;
    }
  }
}

la_ssize_t TarSource::on_read(archive* a, void* self, const void** buf) {
  auto* src = static_cast<TarSource*>(self);
  auto n = src->produce();
  if (!n) {
    src->stream_error_ = n.error();
    archive_set_error(a, EIO, "%s", n.error().message().c_str());
    return -1;
  }
  *buf = src->out_.data();
  return static_cast<la_ssize_t>(*n);
}

Result<archive_entry*> TarSource::next() {
  archive_entry* e = nullptr;
  int rc = archive_read_next_header(ar_, &e);
  if (rc == ARCHIVE_EOF) return static_cast<archive_entry*>(nullptr);
  if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return fail(error("reading"));
  // Declared sizes count whole, holes too: a 64 GiB sparse entry in a 10 KB
  // tar is refused here, before a byte of it is written.
  if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e) && archive_entry_size_is_set(e)) {
    la_int64_t size = archive_entry_size(e);
    if (size < 0) return fail(ErrorKind::invalid_input, path_ + ": an entry declares a negative size");
    if (static_cast<std::uint64_t>(size) > options_.max_bytes - declared_)  // declared_ <= max_bytes
      return fail(over_limit("its entries declare", declared_ + static_cast<std::uint64_t>(size)).error().context(
          "reading " + path_));
    declared_ += static_cast<std::uint64_t>(size);
  }
  return e;
}

Result<std::optional<Digest>> TarSource::finish() {
  for (;;) {
    auto n = produce();
    if (!n) return fail(n.error().context("reading " + path_));
    if (*n == 0) break;
  }
  if (raw_passthrough_) return std::optional<Digest>();
  Digest diff = hash_.finish();
  if (options_.hash_file) file_digest_ = gzip_ ? file_hash_.finish() : diff;
  return std::optional<Digest>(diff);
}

}  // namespace gantry::cache
