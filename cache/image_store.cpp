#include "cache/image_store.h"

#include <ctime>
#include <nlohmann/json.hpp>

#include "cache/layer_unpacker.h"
#include "cache/store.h"

namespace gantry::cache {

using nlohmann::json;

Result<Digest> ImageStore::commit_image(ImageConfig config, const std::vector<LayerDescriptor>& layers,
                                        const std::map<std::string, std::string>& annotations) {
  config.diff_ids.clear();
  for (const auto& l : layers) {
    if (!store_.blobs().has(l.digest))
      return fail(ErrorKind::not_found, "committing an image: layer blob " + l.digest.str() + " is not in the store");
    config.diff_ids.push_back(l.diff_id);
  }
  std::string config_json = config.to_json();
  Digest config_digest = TRY(store_.blobs().put(config_json));
  json manifest = {
      {"schemaVersion", 2},
      {"mediaType", kMediaTypeManifest},
      {"config", {{"mediaType", kMediaTypeConfig}, {"digest", config_digest.str()}, {"size", config_json.size()}}},
  };
  json jl = json::array();
  for (const auto& l : layers) jl.push_back({{"mediaType", l.media_type}, {"digest", l.digest.str()}, {"size", l.size}});
  manifest["layers"] = jl;
  if (!annotations.empty()) manifest["annotations"] = annotations;
  Digest digest = TRY(store_.blobs().put(manifest.dump()));
  for (const auto& l : layers) TRY(record_layer(store_, l));
  return digest;
}

Result<Image> ImageStore::load(const Digest& manifest_digest) {
  auto text = store_.blobs().read(manifest_digest);
  if (!text) {
    if (text.error().kind() == ErrorKind::not_found)
      return fail(ErrorKind::not_found, "image " + manifest_digest.str() + " is not in the store");
    return fail(text.error());
  }
  auto m = TRY_CTX(parse_manifest(*text), "manifest " + manifest_digest.str());
  auto config_text = TRY_CTX(store_.blobs().read(m.config), "config of image " + manifest_digest.str());
  Image image{manifest_digest, m.config, TRY_CTX(ImageConfig::parse(config_text), "config " + m.config.str()), {}};
  if (image.config.diff_ids.size() != m.layers.size())
    return fail(ErrorKind::corrupt, "image " + manifest_digest.str() + ": the manifest lists " +
                                        std::to_string(m.layers.size()) + " layers but the config " +
                                        std::to_string(image.config.diff_ids.size()) + " diff_ids");
  for (std::size_t i = 0; i < m.layers.size(); ++i)
    image.layers.push_back({m.layers[i].digest, image.config.diff_ids[i], m.layers[i].size,
                            m.layers[i].media_type.empty() ? kMediaTypeLayerGzip : m.layers[i].media_type});
  return image;
}

// A digest the user typed may name an image index (what `pull NAME@sha256:…`
// of a multi-platform image stores beside the manifest it took): follow it to
// the linux/amd64 manifest, or its only manifest, that the store holds.
Result<Digest> ImageStore::manifest_of_index(const Digest& digest, const std::string& text) {
  auto bytes = TRY(store_.blobs().read(digest, false));
  json index = json::parse(bytes, nullptr, false);
  if (!index.is_object()) return digest;  // not JSON: load() reports what it is
  // An index is what lists manifests; anything else is left to load() to name.
  auto manifests = index.find("manifests");
  if (manifests == index.end() || !manifests->is_array()) return digest;
  std::vector<Digest> stored;
  std::optional<Digest> amd64;
  for (const auto& entry : *manifests) {
    if (!entry.is_object() || !entry.contains("digest") || !entry["digest"].is_string()) continue;
    auto d = Digest::parse(entry["digest"].get<std::string>());
    if (!d || !store_.blobs().has(*d)) continue;
    stored.push_back(*d);
    auto platform = entry.find("platform");
    if (platform != entry.end() && platform->is_object() && platform->value("os", json("")) == "linux" &&
        platform->value("architecture", json("")) == "amd64")
      amd64 = *d;
  }
  if (amd64) return *amd64;
  if (stored.size() == 1) return stored.front();
  return fail(ErrorKind::not_found, "'" + text + "' is an image index and the store holds " +
                                        (stored.empty() ? std::string("none") : std::to_string(stored.size())) +
                                        " of its manifests: name the manifest digest instead");
}

namespace {

struct TagRow {
  std::string project;
  std::string digest;
};

Result<std::vector<TagRow>> tag_rows(Store& store, const std::string& name, const std::string& tag) {
  auto stmt = TRY(store.db().prepare("SELECT project, digest FROM tags WHERE name = ?1 AND tag = ?2 ORDER BY project"));
  stmt.bind(1, name).bind(2, tag);
  std::vector<TagRow> rows;
  while (TRY(stmt.step())) rows.push_back({stmt.column_text(0), stmt.column_text(1)});
  return rows;
}

std::string project_names(const std::vector<TagRow>& rows) {
  std::string out;
  for (const auto& r : rows) out += (out.empty() ? "" : ", ") + r.project;
  return out;
}

// The row `scope` sees among the tags of one NAME:TAG (nullptr: none), or an
// error when the choice is ambiguous.
Result<const TagRow*> pick_row(const std::vector<TagRow>& rows, const TagScope& scope, const std::string& what) {
  const TagRow* store_wide = nullptr;
  const TagRow* own = nullptr;
  for (const auto& r : rows) {
    if (r.project.empty()) store_wide = &r;
    if (scope.project && !scope.project->empty() && r.project == *scope.project) own = &r;
  }
  if (own) return own;
  if (store_wide || scope.project) return store_wide;
  if (rows.size() == 1) return &rows.front();
  if (rows.empty()) return static_cast<const TagRow*>(nullptr);
  return fail(ErrorKind::invalid_input, "'" + what + "' is a build tag of several projects (" + project_names(rows) +
                                            "): say which with --project");
}

}  // namespace

Result<Digest> ImageStore::resolve(const std::string& text, const TagScope& scope) {
  Reference ref = TRY(Reference::parse(text));
  if (ref.digest) {
    if (!store_.blobs().has(*ref.digest))
      return fail(ErrorKind::not_found, "unknown image '" + text + "': no manifest " + ref.digest->str() + " in the store");
    return manifest_of_index(*ref.digest, text);
  }
  auto rows = TRY(tag_rows(store_, ref.name, ref.tag));
  const TagRow* row = TRY(pick_row(rows, scope, ref.str()));
  if (!row) {
    if (!rows.empty())  // only other projects' build tags
      return fail(ErrorKind::not_found, "unknown image '" + ref.str() + "' in project '" + *scope.project +
                                            "': it is a build tag of project " + project_names(rows) +
                                            ", which a pipeline of another project does not see (tag it store-wide "
                                            "with gantry image tag, or name its digest)");
    std::string hint;
    auto others = TRY(store_.db().prepare("SELECT DISTINCT tag FROM tags WHERE name = ?1 ORDER BY tag LIMIT 5"));
    others.bind(1, ref.name);
    while (TRY(others.step())) hint += (hint.empty() ? "" : ", ") + ref.name + ":" + others.column_text(0);
    return fail(ErrorKind::not_found, "unknown image '" + ref.str() + "'" +
                                          (hint.empty() ? " (see gantry image ls)" : " (this store has " + hint + ")"));
  }
  return Digest::parse(row->digest);
}

Result<Image> ImageStore::load_ref(const std::string& ref, const TagScope& scope) {
  return load(TRY(resolve(ref, scope)));
}

Status ImageStore::tag(const std::string& name, const std::string& tag, const Digest& manifest_digest,
                       const std::string& project) {
  Reference ref = TRY(Reference::parse(name + ":" + tag));
  if (ref.name != name || ref.tag != tag || ref.digest)
    return fail(ErrorKind::invalid_input, "malformed image name or tag '" + name + ":" + tag + "'");
  if (!store_.blobs().has(manifest_digest))
    return fail(ErrorKind::not_found, "cannot tag " + name + ":" + tag + ": image " + manifest_digest.str() + " is not in the store");
  auto stmt = TRY(store_.db().prepare(
      "INSERT INTO tags (project, name, tag, digest, updated) VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT(project, name, tag) DO UPDATE SET digest = excluded.digest, updated = excluded.updated"));
  stmt.bind(1, project).bind(2, name).bind(3, tag).bind(4, manifest_digest.str());
  stmt.bind(5, store_.clock().now_seconds());
  return stmt.run();
}

Status ImageStore::tag_ref(const std::string& text, const Digest& manifest_digest, const std::string& project) {
  Reference ref = TRY(Reference::parse(text));
  if (ref.digest) return fail(ErrorKind::invalid_input, "cannot tag with a digest reference '" + text + "': use NAME[:TAG]");
  return tag(ref.name, ref.tag, manifest_digest, project);
}

Status ImageStore::untag(const std::string& text, const TagScope& scope) {
  Reference ref = TRY(Reference::parse(text));
  const bool scoped = scope.project.has_value();
  if (!ref.digest) {
    auto rows = TRY(tag_rows(store_, ref.name, ref.tag));
    const TagRow* row = TRY(pick_row(rows, scoped ? scope : TagScope{}, ref.str()));
    if (scoped && row && row->project != *scope.project) row = nullptr;  // never another project's tag
    if (!row) return fail(ErrorKind::not_found, "unknown image '" + ref.str() + "' (see gantry image ls)");
    auto stmt = TRY(store_.db().prepare("DELETE FROM tags WHERE project = ?1 AND name = ?2 AND tag = ?3"));
    stmt.bind(1, row->project).bind(2, ref.name).bind(3, ref.tag);
    return stmt.run();
  }
  std::string sql = "DELETE FROM tags WHERE digest = ?1";
  if (!ref.name.empty()) sql += " AND name = ?2";
  if (scoped) sql += " AND project = ?3";
  auto stmt = TRY(store_.db().prepare(sql));
  stmt.bind(1, ref.digest->str());
  if (!ref.name.empty()) stmt.bind(2, ref.name);
  if (scoped) stmt.bind(3, *scope.project);
  TRY(stmt.run());
  if (sqlite3_changes(store_.db().handle()) == 0)
    return fail(ErrorKind::not_found, "unknown image '" + ref.str() + "' (see gantry image ls)");
  return {};
}

Result<std::vector<TagEntry>> ImageStore::list() {
  auto stmt = TRY(store_.db().prepare("SELECT project, name, tag, digest, updated FROM tags ORDER BY name, tag, project"));
  std::vector<TagEntry> out;
  while (TRY(stmt.step())) {
    auto d = Digest::parse(stmt.column_text(3));
    if (!d) return fail(ErrorKind::corrupt, "meta.db tags: " + d.error().message());
    out.push_back({stmt.column_text(0), stmt.column_text(1), stmt.column_text(2), *d, stmt.column_int64(4)});
  }
  return out;
}

Result<std::vector<std::string>> ImageStore::lowerdirs(const Image& image) {
  std::vector<std::string> dirs;
  for (const auto& layer : image.layers) dirs.push_back(TRY(ensure_unpacked(store_, layer)));
  return dirs;
}

}  // namespace gantry::cache
