#include "cache/layer_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <memory>

#include "cache/layer_writer_impl.h"
#include "cache/store.h"
#include "common/unique_fd.h"

namespace gantry::cache {

LayerWriter::LayerWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LayerWriter::~LayerWriter() = default;

Result<std::unique_ptr<LayerWriter>> LayerWriter::create(Store& store, LayerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->store = &store;
  impl->options = options;
  if (options.compression_level < 1 || options.compression_level > 9)
    return fail(ErrorKind::invalid_input, "gzip level must be 1-9, got " + std::to_string(options.compression_level));
  auto blob = TRY(store.blobs().writer());
  impl->gzip = std::make_unique<GzipBlobStream>(std::move(blob), options.compression_level);
  impl->ar = archive_write_new();
  impl->entry = archive_entry_new();
  if (!impl->ar || !impl->entry) return fail(ErrorKind::internal, "libarchive: out of memory");
  // pax (restricted): plain ustar headers unless a field needs pax records
  // (long names, xattrs, big ids); no atime/ctime records are ever written.
  if (archive_write_set_format_pax_restricted(impl->ar) != ARCHIVE_OK ||
      archive_write_add_filter_none(impl->ar) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(impl->ar, 10240) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(impl->ar, 1) != ARCHIVE_OK ||
      archive_write_open2(impl->ar, impl.get(), nullptr, &Impl::on_write, nullptr, nullptr) != ARCHIVE_OK)
    return fail(impl->archive_error("starting a layer"));
  return std::unique_ptr<LayerWriter>(new LayerWriter(std::move(impl)));
}

Status LayerWriter::add_directory(std::string_view path, mode_t mode, uid_t uid, gid_t gid) {
  TRY(impl_->begin(path, AE_IFDIR, mode, uid, gid, impl_->options.epoch));
  return impl_->write_header(path);
}

Status LayerWriter::add_file(std::string_view path, mode_t mode, uid_t uid, gid_t gid, std::string_view data) {
  auto* e = TRY(impl_->begin(path, AE_IFREG, mode, uid, gid, impl_->options.epoch));
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  TRY(impl_->write_header(path));
  return impl_->write_data(data.data(), data.size(), path);
}

Status LayerWriter::add_file(std::string_view path, mode_t mode, uid_t uid, gid_t gid, std::uint64_t size,
                             const LayerReadFn& reader) {
  auto* e = TRY(impl_->begin(path, AE_IFREG, mode, uid, gid, impl_->options.epoch));
  archive_entry_set_size(e, static_cast<la_int64_t>(size));
  TRY(impl_->write_header(path));
  auto buf = std::make_unique<std::array<char, 1 << 17>>();
  std::uint64_t left = size;
  while (left > 0) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf->size()));
    std::size_t got = TRY_CTX(reader(buf->data(), want), "reading " + std::string(path));
    if (got == 0)
      return fail(ErrorKind::invalid_input, "layer entry " + std::string(path) + ": source ended " +
                                                std::to_string(left) + " bytes before its declared size");
    TRY(impl_->write_data(buf->data(), got, path));
    left -= got;
  }
  return {};
}

Status LayerWriter::add_symlink(std::string_view path, std::string_view target, uid_t uid, gid_t gid) {
  auto* e = TRY(impl_->begin(path, AE_IFLNK, 0777, uid, gid, impl_->options.epoch));
  archive_entry_set_symlink(e, std::string(target).c_str());
  return impl_->write_header(path);
}

Status LayerWriter::add_hardlink(std::string_view path, std::string_view target) {
  std::string clean_target = TRY(normalize_layer_path(target));
  auto* e = TRY(impl_->begin(path, AE_IFREG, 0644, 0, 0, impl_->options.epoch));
  archive_entry_set_hardlink(e, clean_target.c_str());
  archive_entry_set_size(e, 0);
  return impl_->write_header(path);
}

Status LayerWriter::add_whiteout(std::string_view path) {
  std::string clean = TRY(normalize_layer_path(path));
  auto slash = clean.rfind('/');
  std::string wh = slash == std::string::npos ? ".wh." + clean : clean.substr(0, slash + 1) + ".wh." + clean.substr(slash + 1);
  auto* e = TRY(impl_->begin(wh, AE_IFREG, 0, 0, 0, impl_->options.epoch));
  archive_entry_set_size(e, 0);
  return impl_->write_header(wh);
}

Status LayerWriter::add_opaque(std::string_view dir) {
  std::string clean = TRY(normalize_layer_path(dir));
  std::string wh = clean.empty() ? ".wh..wh..opq" : clean + "/.wh..wh..opq";
  auto* e = TRY(impl_->begin(wh, AE_IFREG, 0, 0, 0, impl_->options.epoch));
  archive_entry_set_size(e, 0);
  return impl_->write_header(wh);
}

Result<LayerDescriptor> LayerWriter::finish() {
  Impl& im = *impl_;
  if (im.finished) return fail(ErrorKind::internal, "layer writer finished twice");
  im.finished = true;
  if (archive_write_close(im.ar) != ARCHIVE_OK) return fail(im.archive_error("closing layer"));
  Digest diff_id = im.diff_hash.finish();
  Digest digest = TRY(im.gzip->finish());
  LayerDescriptor desc{digest, diff_id, im.gzip->compressed_size(), kMediaTypeLayerGzip};
  TRY(record_layer(*im.store, desc));
  return desc;
}

Status record_layer(Store& store, const LayerDescriptor& layer) {
  auto stmt = TRY(store.db().prepare(
      "INSERT INTO layers (digest, diff_id, size, media_type) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT(digest) DO UPDATE SET diff_id = excluded.diff_id, size = excluded.size, "
      "media_type = excluded.media_type"));
  stmt.bind(1, layer.digest.str()).bind(2, layer.diff_id.str()).bind(3, static_cast<std::int64_t>(layer.size));
  stmt.bind(4, layer.media_type);
  return stmt.run();
}

Result<LayerDescriptor> write_layer_from_dir(Store& store, const std::string& dir, LayerOptions options) {
  auto w = TRY(LayerWriter::create(store, options));
  TRY(w->add_tree(dir, false));
  return w->finish();
}

Result<LayerDescriptor> write_layer_from_upper(Store& store, const std::string& upper_dir, LayerOptions options) {
  auto w = TRY(LayerWriter::create(store, options));
  TRY(w->add_tree(upper_dir, true));
  return w->finish();
}

}  // namespace gantry::cache
