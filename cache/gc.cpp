// gantry gc: mark from the gc roots of every module (meta_schema.cpp), sweep
// blobs/, layers/ and the layers table. Runs under the exclusive store lock,
// so no writer can be between "blob written" and "blob referenced".
#include <dirent.h>
#include <sys/stat.h>

#include <cstdio>

#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "cache/image_store.h"
#include "cache/referrers.h"
#include "common/file_util.h"
#include "cache/store.h"
#include "cache/store_maintenance.h"

namespace gantry::cache {

using nlohmann::json;

namespace {

constexpr std::uint64_t kMaxJsonBlob = 4 << 20;

struct Marker {
  Store& store;
  std::set<Digest> blobs;
  std::set<Digest> diff_ids;

  Result<std::optional<Digest>> layer_diff_id(const Digest& d) {
    auto v = TRY(store.db().query_text("SELECT diff_id FROM layers WHERE digest = ?1", d.str()));
    if (!v) return std::optional<Digest>();
    auto parsed = Digest::parse(*v);
    if (!parsed) return std::optional<Digest>();
    return std::optional<Digest>(*parsed);
  }

  Status mark(const Digest& d) {
    if (blobs.count(d)) return {};
    if (!store.blobs().has(d)) {
      diff_ids.insert(d);  // a root may name an unpacked layer by its diff_id
      return {};
    }
    blobs.insert(d);
    if (auto diff = TRY(layer_diff_id(d))) {
      diff_ids.insert(*diff);
      return {};
    }
    std::uint64_t size = TRY(store.blobs().size(d));
    if (size > kMaxJsonBlob) return {};
    auto text = store.blobs().read(d, false);
    if (!text) return {};
    json j = json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return {};
    if (j.contains("manifests") && j["manifests"].is_array()) {  // an index
      for (const auto& m : j["manifests"])
        if (auto md = Digest::parse(m.value("digest", "")); md) TRY(mark(*md));
      return {};
    }
    if (!j.contains("config") || !j.contains("layers")) return {};  // a config, or other JSON
    // A kept manifest keeps its referrers (attestations: referrers.h).
    for (const auto& r : TRY(ReferrerStore(store).list(d))) TRY(mark(r.digest));
    auto m = parse_manifest(*text);
    if (!m) return {};  // fsck reports malformed manifests; gc keeps what it can name
    blobs.insert(m->config);
    std::vector<Digest> config_diff_ids;
    if (auto ct = store.blobs().read(m->config, false)) {
      if (auto cfg = ImageConfig::parse(*ct)) config_diff_ids = cfg->diff_ids;
    }
    for (std::size_t i = 0; i < m->layers.size(); ++i) {
      blobs.insert(m->layers[i].digest);
      if (i < config_diff_ids.size()) diff_ids.insert(config_diff_ids[i]);
      if (auto diff = TRY(layer_diff_id(m->layers[i].digest))) diff_ids.insert(*diff);
    }
    return {};
  }
};

}  // namespace

Result<std::vector<Digest>> gc_root_digests(Store& store) {
  std::vector<Digest> roots;
  GcRootList list = gc_roots();
  for (std::size_t i = 0; i < list.size; ++i) {
    auto stmt = TRY_CTX(store.db().prepare(list.items[i].sql), std::string("gc root ") + list.items[i].name);
    while (TRY(stmt.step())) {
      if (stmt.column_is_null(0)) continue;
      if (auto d = Digest::parse(stmt.column_text(0))) roots.push_back(*d);
    }
  }
  return roots;
}

Result<GcReport> collect_garbage(Store& store, bool dry_run) {
  if (store.lock_mode() != StoreLock::exclusive)
    return fail(ErrorKind::internal, "gc needs the store opened with the exclusive lock");
  GcReport report;
  report.tmp_swept = TRY(store.sweep_tmp());
  Marker marker{store, {}, {}};
  for (const Digest& d : TRY(gc_root_digests(store))) TRY(marker.mark(d));

  std::vector<Digest> doomed;
  for (const Digest& d : TRY(store.blobs().list())) {
    if (marker.blobs.count(d)) {
      ++report.blobs_kept;
      continue;
    }
    doomed.push_back(d);
    report.bytes_freed += store.blobs().size(d).value_or(0);
  }
  report.blobs_removed = doomed.size();

  std::vector<std::string> doomed_layers;
  const std::string layers = store.paths().layers_dir();
  for (const std::string& name : TRY(list_dir(layers))) {
    auto diff = Digest::from_hex(name);
    if (diff && marker.diff_ids.count(*diff)) continue;
    doomed_layers.push_back(layers + "/" + name);
  }
  report.layers_removed = doomed_layers.size();
  if (dry_run) return report;

  // Rows first, then files: a crash in between leaves only unreferenced files.
  {
    auto tx = TRY(store.db().transaction());
    auto del = TRY(store.db().prepare("DELETE FROM layers WHERE digest = ?1"));
    for (const Digest& d : doomed) {
      TRY(del.reset());
      del.bind(1, d.str());
      TRY(del.run());
    }
    TRY(tx.commit());
  }
  for (const Digest& d : doomed) TRY(store.blobs().remove(d));
  // The referrers of a subject that is gone go with it.
  ReferrerStore referrers(store);
  for (const Digest& subject : TRY(referrers.subjects()))
    if (!marker.blobs.count(subject)) TRY(referrers.forget_subject(subject));
  // An unpacked layer leaves layers/ in one rename (into this process's
  // scratch, swept if we die): a half-removed tree is never a lowerdir.
  for (std::size_t i = 0; i < doomed_layers.size(); ++i) {
    std::string trash = store.tmp_dir() + "/gc-layer-" + std::to_string(i);
    if (::rename(doomed_layers[i].c_str(), trash.c_str()) != 0) return fail_sys("rename", doomed_layers[i]);
    TRY(remove_tree(trash));
  }
  return report;
}

}  // namespace gantry::cache
