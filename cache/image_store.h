// OCI images: config + manifest blobs (canonical JSON: sorted keys, no
// spaces), tags in meta.db, references, and the unpacked lowerdirs of an
// image for the executor.
//
// References: NAME[:TAG] (tag defaults to "latest"; NAME may hold a
// registry host:port and slashes: "127.0.0.1:5000/team/base:1.2"),
// NAME@sha256:<hex>, or a bare manifest digest sha256:<hex>.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cache/layer_writer.h"
#include "common/digest.h"

namespace gantry::cache {

class Store;

inline constexpr const char* kMediaTypeManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kMediaTypeIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kMediaTypeConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kMediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kMediaTypeDockerConfig = "application/vnd.docker.container.image.v1+json";

struct HistoryEntry {
  std::string created;     // RFC 3339, may be empty
  std::string created_by;  // "copy src/ /app/src/", "run: sh build.sh"
  std::string comment;
  bool empty_layer = false;
};

struct ImageConfig {
  std::string architecture = "amd64";
  std::string os = "linux";
  std::string created;                // RFC 3339, "" = omitted
  std::vector<std::string> env;       // "K=V"
  std::string working_dir;
  std::string user;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::map<std::string, std::string> labels;
  std::vector<std::string> exposed_ports;   // "8080/tcp"
  std::string stop_signal;
  std::vector<Digest> diff_ids;       // rootfs.diff_ids, bottom to top
  std::vector<HistoryEntry> history;
  // The original JSON document (from a parsed config): fields gantry does not
  // model are kept when the config is serialised again.
  std::string raw;

  static Result<ImageConfig> parse(const std::string& json);
  std::string to_json() const;  // canonical
  // Value of K in env, if set.
  std::optional<std::string> env_value(const std::string& key) const;
};

struct Image {
  Digest manifest_digest;
  Digest config_digest;
  ImageConfig config;
  std::vector<LayerDescriptor> layers;  // bottom to top; diff_id from the config
};

struct Reference {
  std::string name;               // empty for a bare digest
  std::string tag;                // "latest" when neither tag nor digest given
  std::optional<Digest> digest;   // for name@sha256:… and sha256:…
  std::string str() const;
  // invalid_input on malformed names, tags or digests.
  static Result<Reference> parse(const std::string& text);
};

struct TagEntry {
  std::string project;     // "" for a store-wide tag; else the project whose build made it
  std::string name;
  std::string tag;
  Digest digest;           // manifest digest
  std::int64_t updated;    // unix seconds
};

// Which tags a lookup sees. Tags are store-wide (import, pull, `gantry image
// tag`: project "") or build tags of one project (`gantry build`/`run` tag
// NAME:<short> and NAME:latest in the pipeline's project).
//  - project set (a pipeline's `from:` and stage `image:`): that project's
//    build tag, else the store-wide tag; never another project's build tags,
//    so one repository cannot choose another's base image by building it.
//  - project unset (the CLI without --project): the store-wide tag, else the
//    one project's build tag; several projects' build tags are ambiguous (an
//    error naming them).
struct TagScope {
  std::optional<std::string> project;
  static TagScope of(std::string project) { return TagScope{std::move(project)}; }
  // A CLI's --project: empty means unscoped.
  static TagScope from_flag(const std::string& project) { return project.empty() ? TagScope{} : of(project); }
};

class ImageStore {
 public:
  explicit ImageStore(Store& store) : store_(store) {}

  // Writes config and manifest blobs; returns the manifest digest. The
  // config's diff_ids are set from `layers`.
  Result<Digest> commit_image(ImageConfig config, const std::vector<LayerDescriptor>& layers,
                              const std::map<std::string, std::string>& annotations = {});
  Result<Image> load(const Digest& manifest_digest);
  // Resolves a reference to a manifest digest (not_found: unknown tag/digest).
  // A digest of an image index resolves to the index's linux/amd64 (or only)
  // manifest held in the store.
  Result<Digest> resolve(const std::string& ref, const TagScope& scope = {});
  Result<Image> load_ref(const std::string& ref, const TagScope& scope = {});

  // Points name:tag at the manifest (which must exist); re-tagging moves it.
  // `project` "" makes a store-wide tag, else a build tag of that project.
  Status tag(const std::string& name, const std::string& tag, const Digest& manifest_digest,
             const std::string& project = "");
  Status tag_ref(const std::string& ref, const Digest& manifest_digest, const std::string& project = "");
  // Removes the tag `ref` resolves to in `scope` (not_found if absent); a
  // digest reference removes every tag of that image (in scope's project
  // only, when set). Blobs stay until gc.
  Status untag(const std::string& ref, const TagScope& scope = {});
  Result<std::vector<TagEntry>> list();

  // Unpacked layer dirs, bottom to top (unpacking on demand): the overlay
  // lowerdirs for this image (overlayfs wants them top first: reverse them).
  Result<std::vector<std::string>> lowerdirs(const Image& image);

 private:
  Result<Digest> manifest_of_index(const Digest& digest, const std::string& text);
  Store& store_;
};

// Parses an OCI (or Docker schema 2) manifest blob.
struct ManifestInfo {
  std::string media_type;
  Digest config;
  std::uint64_t config_size = 0;
  std::string config_media_type;
  struct Layer {
    Digest digest;
    std::uint64_t size;
    std::string media_type;
  };
  std::vector<Layer> layers;
};
Result<ManifestInfo> parse_manifest(const std::string& json);

}  // namespace gantry::cache
