#include "cache/tar_source.h"

#include <fcntl.h>
#include <unistd.h>

namespace gantry::cache {

Result<std::unique_ptr<TarSource>> TarSource::open(const std::string& path) {
  std::unique_ptr<TarSource> src(new TarSource());
  src->path_ = path;
  src->fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!src->fd_) return fail_sys("open", path);
  src->in_.resize(1 << 17);
  src->out_.resize(1 << 17);
  // Sniff the compression from the first bytes.
  unsigned char magic[6] = {};
  ssize_t n = ::pread(src->fd_.get(), magic, sizeof magic, 0);
  if (n < 0) return fail_sys("read", path);
  if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    src->gzip_ = true;
    if (inflateInit2(&src->z_, 15 + 16) != Z_OK) return fail(ErrorKind::internal, "zlib: inflateInit2 failed");
    src->z_init_ = true;
  } else if (n >= 3 && ((magic[0] == 'B' && magic[1] == 'Z' && magic[2] == 'h') ||
                        (magic[0] == 0xfd && magic[1] == '7' && magic[2] == 'z') ||
                        (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f))) {
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
  for (;;) {
    if (in_pos_ == in_len_ && !eof_) {
      ssize_t n;
      do n = ::read(fd_.get(), in_.data(), in_.size());
      while (n < 0 && errno == EINTR);
      if (n < 0) return fail_sys("read", path_);
      in_pos_ = 0;
      in_len_ = static_cast<std::size_t>(n);
      if (n == 0) eof_ = true;
    }
    if (!gzip_) {
      std::size_t n = in_len_ - in_pos_;
      if (n == 0) return 0;  // eof
      std::copy(in_.begin() + in_pos_, in_.begin() + in_len_, out_.begin());
      in_pos_ = in_len_;
      if (!raw_passthrough_) hash_.update(out_.data(), n);
      return n;
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
  if (rc == ARCHIVE_OK || rc == ARCHIVE_WARN) return e;
  return fail(error("reading"));
}

Result<std::optional<Digest>> TarSource::finish() {
  for (;;) {
    auto n = produce();
    if (!n) return fail(n.error().context("reading " + path_));
    if (*n == 0) break;
  }
  if (raw_passthrough_) return std::optional<Digest>();
  return std::optional<Digest>(hash_.finish());
}

}  // namespace gantry::cache
