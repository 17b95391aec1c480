// The key of one build step: the sha256 of a typed, delimited, versioned
// record of everything that determines the step's result.
//
// Step-key record, format version 2 (kStepKeyFormat). A JSON object:
//   "format"   2 (version 1 had no "epoch": its layers took the commit time)
//   "parent"   the previous step's key ("step:<hex>"), or for the first step
//              the base image's manifest digest ("image:sha256:<hex>"), or
//              "scratch"
//   "kind"     "run" | "copy" | "env" | "workdir" | "user"
//   "args"     the step's own arguments, by kind:
//                run:  {"argv": [...]} or {"shell": "..."}
//                copy: {"src": [...], "dest": "...", "chmod": "...", "chown": "..."}
//                env:  {"set": {"K": "V", ...}}   workdir/user: {"value": "..."}
//   "env"      the effective environment the step sees {"K": "V", ...}
//   "workdir"  the effective working directory ("" = /)
//   "user"     the effective user ("" = root)
//   "network"  "none" | "host"
//   "epoch"    the seconds every mtime in the step's layer is clamped to (the
//              build's epoch: the pipeline's `epoch:`, else $SOURCE_DATE_EPOCH,
//              else 0; docs/build.md): whatever time a layer holds is keyed
//   "sources"  copy only: every source entry [{"path", "mode", "oid"}] in
//              tree order (git object ids: no file is read to key a copy)
//
// The key is NOT a hash of the JSON text: it is the sha256 of a typed,
// length-prefixed encoding of the record's value tree (a type tag, then a
// decimal length and ':' before every string, object key and container), so
// two different records can never encode to the same bytes, and a path that
// is not UTF-8 is hashed as its raw bytes. The JSON text is kept beside the
// key in meta.db (step_cache.record) for --explain and for people.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/error.h"

namespace gantry::cache {

inline constexpr int kStepKeyFormat = 2;

// One source entry of a copy step, as git has it.
struct StepSource {
  std::string path;       // path in the commit's tree
  std::uint32_t mode = 0; // git file mode (0100644, 0100755, 0120000, 040000)
  std::string oid;        // git object id (hex)
  bool operator==(const StepSource&) const = default;
};

struct StepRecord {
  int format = kStepKeyFormat;
  std::string parent;
  std::string kind;
  nlohmann::json args = nlohmann::json::object();
  std::map<std::string, std::string> env;
  std::string workdir;
  std::string user;
  std::string network = "none";
  std::int64_t epoch = 0;
  std::vector<StepSource> sources;

  nlohmann::json to_json() const;
  // The stored text (JSON, sorted keys; bytes that are not UTF-8 replaced).
  std::string text() const;
  static Result<StepRecord> from_text(const std::string& text);
};

// The parent field for a step that follows `key`, or the first step on an image.
std::string parent_of_step(const Digest& key);
std::string parent_of_image(const Digest& manifest_digest);
inline constexpr const char* kScratchParent = "scratch";

// sha256 of the typed encoding of the record.
Digest step_key(const StepRecord& record);
// sha256 of `domain` then the typed encoding of any JSON value: for other
// keys built the same way (e.g. the image key: the last step key plus the
// image's entrypoint, cmd and labels).
Digest typed_digest(std::string_view domain, const nlohmann::json& value);

// One differing field between an earlier record and the current one, with a
// short human description ("env APP_MODE: \"dev\" -> \"prod\"").
struct FieldChange {
  std::string field;   // "parent", "args", "env", "sources", ...
  std::string detail;  // what changed in that field
};
std::vector<FieldChange> diff_records(const StepRecord& before, const StepRecord& after);

}  // namespace gantry::cache
