// OCI 1.1 referrers in the store: artifacts (gantry's attestations, or any
// other) whose manifest names an image manifest as its `subject`. The image's
// own manifest is never touched, so its digest never changes because of them.
//
// Layout (store_paths.h), version 1:
//   <root>/referrers/<subject-hex>/<referrer-hex>   the referrer's descriptor as
//                                                   JSON (mediaType, digest, size,
//                                                   artifactType, annotations)
// One file per referrer, written atomically: two processes attaching to one
// subject at once never lose each other's entry. The referrers index of a
// subject (an OCI image index, as the distribution spec's referrers API
// answers) is made from the directory on demand. gc keeps a referrer (and its
// blobs) exactly as long as its subject is kept.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/error.h"

namespace gantry::cache {

class Store;

inline constexpr const char* kMediaTypeEmpty = "application/vnd.oci.empty.v1+json";

struct Descriptor {
  std::string media_type;
  Digest digest;
  std::uint64_t size = 0;
  std::string artifact_type;                       // "" = none
  std::map<std::string, std::string> annotations;  // empty = none
  std::string to_json() const;
  static Result<Descriptor> parse(const std::string& json);
};

// What an artifact manifest (OCI 1.1, image manifest with artifactType and
// subject) says about its subject, if it has one.
struct ArtifactInfo {
  std::optional<Descriptor> subject;
  std::string artifact_type;
  std::map<std::string, std::string> annotations;
};
ArtifactInfo parse_artifact(const std::string& manifest_json);

class ReferrerStore {
 public:
  explicit ReferrerStore(Store& store) : store_(store) {}

  // Writes `blob` (of `blob_media_type`), the empty config and an artifact
  // manifest whose subject is `subject`, and records it; returns the
  // artifact manifest's descriptor.
  Result<Descriptor> attach(const Descriptor& subject, const std::string& artifact_type, const std::string& blob,
                            const std::string& blob_media_type,
                            const std::map<std::string, std::string>& annotations);
  // Records an artifact manifest already in the store (import, pull): its
  // subject is read from the manifest. Invalid_input when it has none.
  Result<Descriptor> record(const Digest& artifact_manifest);
  // Every referrer of `subject`, by artifact type then digest; only those
  // whose manifest blob is in the store.
  Result<std::vector<Descriptor>> list(const Digest& subject) const;
  // The referrers index of `subject` (an OCI image index).
  Result<std::string> index_json(const Digest& subject) const;
  // Subjects that have a referrers directory (gc, fsck).
  Result<std::vector<Digest>> subjects() const;
  Status forget_subject(const Digest& subject);

 private:
  Store& store_;
};

}  // namespace gantry::cache
