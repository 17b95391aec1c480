#include "cache/blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <memory>

#include "common/fault_injection.h"
#include "common/file_util.h"

namespace gantry::cache {

namespace {

Status write_all(int fd, const char* p, std::size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail_sys("write", path);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return {};
}

}  // namespace

// ---- BlobWriter ------------------------------------------------------------

BlobWriter::BlobWriter(BlobWriter&& other) noexcept
    : paths_(other.paths_),
      tmp_path_(std::exchange(other.tmp_path_, {})),
      fd_(std::move(other.fd_)),
      hash_(std::move(other.hash_)),
      size_(other.size_) {}

BlobWriter& BlobWriter::operator=(BlobWriter&& other) noexcept {
  if (this != &other) {
    abort();
    paths_ = other.paths_;
    tmp_path_ = std::exchange(other.tmp_path_, {});
    fd_ = std::move(other.fd_);
    hash_ = std::move(other.hash_);
    size_ = other.size_;
  }
  return *this;
}

BlobWriter::~BlobWriter() { abort(); }

void BlobWriter::abort() {
  fd_.reset();
  if (!tmp_path_.empty()) ::unlink(tmp_path_.c_str());
  tmp_path_.clear();
}

Status BlobWriter::write(const void* data, std::size_t size) {
  if (!fd_) return fail(ErrorKind::internal, "blob writer used after commit or abort");
  if (size_ == 0 && size > 0) {  // one fault point per blob, not per chunk
    if (auto st = fault::point(fault::Op::write, tmp_path_); !st) {
      abort();
      return st;
    }
  }
  hash_.update(data, size);
  TRY(write_all(fd_.get(), static_cast<const char*>(data), size, tmp_path_));
  // Start writeback of each 8 MiB as it completes, so the fsync at commit
  // finds little left to do.
  constexpr std::uint64_t kFlushEvery = 8 << 20;
  std::uint64_t before = size_ / kFlushEvery;
  size_ += size;
  if (size_ / kFlushEvery != before) {
    auto start = static_cast<off64_t>(before * kFlushEvery);
    (void)::sync_file_range(fd_.get(), start, static_cast<off64_t>(size_) - start, SYNC_FILE_RANGE_WRITE);
  }
  return {};
}

Result<Digest> BlobWriter::commit(std::optional<Digest> expected) {
  if (!fd_) return fail(ErrorKind::internal, "blob writer committed twice");
  Digest actual = hash_.finish();
  if (expected && *expected != actual) {
    abort();
    return fail(ErrorKind::corrupt, "blob content does not match its digest: expected " + expected->str() +
                                        ", got " + actual.str() + " (" + std::to_string(size_) + " bytes)");
  }
  auto injected = [this](fault::Op op, const std::string& where) -> Status {
    if (auto st = fault::point(op, where); !st) {
      abort();
      return st;
    }
    return {};
  };
  TRY(injected(fault::Op::fsync, tmp_path_));
  if (::fsync(fd_.get()) != 0) {
    int err = errno;
    abort();
    return fail_sys("fsync", tmp_path_, err);
  }
  fd_.reset();
  std::string final_path = paths_->blob(actual);
  TRY(injected(fault::Op::rename, final_path));
  if (::rename(tmp_path_.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    abort();
    return fail_sys("rename blob to", final_path, err);
  }
  tmp_path_.clear();
  TRY(fsync_dir(paths_->blobs_dir()));
  return actual;
}

// ---- BlobStore -------------------------------------------------------------

Result<BlobWriter> BlobStore::writer() const {
  std::string tmp = (tmp_dir_.empty() ? paths_->tmp_root() : tmp_dir_) + "/blob-" + unique_suffix();
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
  if (!fd) return fail_sys("create", tmp);
  return BlobWriter(paths_, std::move(tmp), std::move(fd));
}

Result<Digest> BlobStore::put(std::string_view data, std::optional<Digest> expected) const {
  if (expected && has(*expected)) {
    if (Digest::of(data) != *expected)
      return fail(ErrorKind::corrupt, "blob content does not match its digest " + expected->str());
    return *expected;
  }
  auto w = TRY(writer());
  TRY(w.write(data));
  return w.commit(expected);
}

Result<Digest> BlobStore::put_file(const std::string& path, std::optional<Digest> expected) const {
  UniqueFd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return fail_sys("open", path);
  auto w = TRY(writer());
  auto buf = std::make_unique<std::array<char, 1 << 17>>();
  for (;;) {
    ssize_t n = ::read(in.get(), buf->data(), buf->size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_sys("read", path);
    }
    if (n == 0) break;
    TRY(w.write(buf->data(), static_cast<std::size_t>(n)));
  }
  return TRY_CTX(w.commit(expected), path);
}

bool BlobStore::has(const Digest& d) const {
  struct stat st {};
  return ::stat(paths_->blob(d).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::uint64_t> BlobStore::size(const Digest& d) const {
  struct stat st {};
  if (::stat(paths_->blob(d).c_str(), &st) != 0) {
    if (errno == ENOENT) return fail(ErrorKind::not_found, "blob " + d.str() + " is not in the store");
    return fail_sys("stat", paths_->blob(d));
  }
  return static_cast<std::uint64_t>(st.st_size);
}

Result<std::string> BlobStore::read(const Digest& d, bool verify_content) const {
  auto data = read_file(paths_->blob(d));
  if (!data) {
    if (data.error().kind() == ErrorKind::not_found)
      return fail(ErrorKind::not_found, "blob " + d.str() + " is not in the store");
    return fail(data.error());
  }
  if (verify_content && Digest::of(*data) != d)
    return fail(ErrorKind::corrupt, "blob " + d.str() + " is corrupt: its content hashes to " + Digest::of(*data).str());
  return data;
}

Status BlobStore::verify(const Digest& d) const {
  auto actual = digest_file(paths_->blob(d));
  if (!actual) {
    if (actual.error().kind() == ErrorKind::not_found)
      return fail(ErrorKind::not_found, "blob " + d.str() + " is not in the store");
    return fail(actual.error());
  }
  if (*actual != d)
    return fail(ErrorKind::corrupt, "blob " + d.str() + " is corrupt: its content hashes to " + actual->str());
  return {};
}

Result<std::vector<Digest>> BlobStore::list(std::vector<std::string>* strays) const {
  std::vector<Digest> out;
  for (const std::string& name : TRY(list_dir(paths_->blobs_dir()))) {
    auto d = Digest::from_hex(name);
    if (d)
      out.push_back(*d);
    else if (strays)
      strays->push_back(paths_->blobs_dir() + "/" + name);
  }
  return out;  // list_dir sorts the names, so the digests are sorted too
}

Status BlobStore::remove(const Digest& d) const {
  if (::unlink(paths_->blob(d).c_str()) != 0 && errno != ENOENT) return fail_sys("unlink", paths_->blob(d));
  return {};
}

}  // namespace gantry::cache
