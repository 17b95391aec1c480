// gantry fsck: re-hash every blob, check every reference (tags, layer rows,
// the gc roots of every module and what their manifests name), and SQLite's
// own integrity check, and the modes of the store's dirs (store_modes.h). Each fault is one line naming the blob, tag or row.
#include <dirent.h>
#include <sys/stat.h>

#include <memory>
#include <set>

#include "cache/image_store.h"
#include "common/file_util.h"
#include "cache/store.h"
#include "cache/store_maintenance.h"
#include "cache/store_modes.h"

namespace gantry::cache {

namespace {

struct Checker {
  Store& store;
  FsckReport& report;
  std::set<Digest> corrupt;
  std::set<Digest> images_checked;

  void fault(std::string line) { report.faults.push_back(std::move(line)); }

  void check_image(const Digest& manifest, const std::string& who) {
    ++report.references_checked;
    if (!images_checked.insert(manifest).second) return;
    if (corrupt.count(manifest)) {
      fault(who + ": manifest " + manifest.str() + " is corrupt");
      return;
    }
    auto image = store.images().load(manifest);
    if (!image) {
      fault(who + ": " + image.error().message());
      return;
    }
    for (const auto& l : image->layers) {
      ++report.references_checked;
      if (!store.blobs().has(l.digest))
        fault(who + ": image " + manifest.str() + " names layer " + l.digest.str() + ", which is missing");
      else if (corrupt.count(l.digest))
        fault(who + ": image " + manifest.str() + " names layer " + l.digest.str() + ", which is corrupt");
    }
  }
};

bool looks_like_manifest(Store& store, const Digest& d) {
  auto size = store.blobs().size(d);
  if (!size || *size > (4 << 20)) return false;
  auto text = store.blobs().read(d, false);
  return text && text->find("\"layers\"") != std::string::npos && parse_manifest(*text).has_value();
}

}  // namespace

Result<FsckReport> check_store(Store& store) {
  FsckReport report;
  Checker c{store, report, {}, {}};

  std::vector<std::string> strays;
  for (const Digest& d : TRY(store.blobs().list(&strays))) {
    ++report.blobs_checked;
    if (auto st = store.blobs().verify(d); !st) {
      c.corrupt.insert(d);
      c.fault(st.error().message());
    }
  }
  for (const auto& s : strays) c.fault("stray file in the blob store: " + s);

  for (const TagEntry& t : TRY(store.images().list())) c.check_image(t.digest, "tag " + (t.project.empty() ? "" : t.project + ": ") + t.name + ":" + t.tag);

  {
    auto stmt = TRY(store.db().prepare("SELECT digest, diff_id FROM layers"));
    while (TRY(stmt.step())) {
      ++report.references_checked;
      std::string digest = stmt.column_text(0);
      auto d = Digest::parse(digest);
      auto diff = Digest::parse(stmt.column_text(1));
      if (!d || !diff)
        c.fault("meta.db layers row '" + digest + "': malformed digest");
      else if (!store.blobs().has(*d))
        c.fault("meta.db layers row " + digest + ": the blob is missing");
    }
  }

  // Other modules' references (step cache, environments, runs...).
  GcRootList roots = gc_roots();
  for (std::size_t i = 0; i < roots.size; ++i) {
    if (std::string_view(roots.items[i].name) == "tags") continue;
    auto stmt = TRY(store.db().prepare(roots.items[i].sql));
    while (TRY(stmt.step())) {
      if (stmt.column_is_null(0)) continue;
      std::string text = stmt.column_text(0);
      std::string who = std::string(roots.items[i].name) + " row " + text;
      auto d = Digest::parse(text);
      if (!d) {
        c.fault(who + ": malformed digest");
        continue;
      }
      ++report.references_checked;
      if (store.blobs().has(*d)) {
        if (looks_like_manifest(store, *d)) c.check_image(*d, who);
      } else {
        struct stat st {};
        if (::stat(store.paths().layer_dir(*d).c_str(), &st) != 0) c.fault(who + ": blob " + d->str() + " is missing");
      }
    }
  }

  const std::string layers = store.paths().layers_dir();
  for (const std::string& name : TRY(list_dir(layers)))
    if (!Digest::from_hex(name)) c.fault("stray entry in layers/: " + layers + "/" + name);

  // Modes: what Store::open found (and tightened when it could), else what is wrong now.
  std::vector<std::string> modes = store.mode_findings();
  if (modes.empty()) modes = TRY(check_store_modes(store.paths(), false));
  for (const std::string& line : modes) c.fault("store mode: " + line);

  auto integrity = TRY(store.db().query_text("PRAGMA integrity_check"));
  if (!integrity || *integrity != "ok") c.fault("meta.db integrity check: " + integrity.value_or("no answer"));
  return report;
}

}  // namespace gantry::cache
