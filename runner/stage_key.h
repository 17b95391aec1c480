// The key of a stage's result: the sha256 of a typed, delimited, versioned
// record of everything that decides what the stage does.
//
// Stage-key record, format version 3 (kStageKeyFormat), a JSON object:
//   "format"       3 (version 2 was hashed by a second encoder of its own,
//                  without a domain separator; 3 shares cache/step_key.h's)
//   "image"        the manifest digest the stage runs on
//   "stage"        {"name", "script", "env": [[K, V], ...], "secrets": [[name,
//                  "hmac-sha256:<hex>"], ...] (each name with the HMAC-SHA256
//                  of its value under the store's secret key, secrets/hmac.key;
//                  NEVER the value nor a plain hash of it), "timeout_ms",
//                  "limits", "network", "artifacts", "workspace"}, plus
//                  "services" only when the stage has some (so the keys of
//                  stages without services are unchanged: no format bump):
//                  [{"name", "image": manifest digest, "command", "env",
//                  "ready": {"kind", "port", "url", "argv", "text"},
//                  "timeout_ms"}, ...]. Cache directories (`caches:`) are
//                  never keyed (docs/pipeline.md).
//   "environment"  the environment the stage belongs to (GANTRY_ENVIRONMENT)
//   "workspace"    what it sees at /workspace: {"tree": oid} for the whole
//                  base tree or {"entries": [[path, mode, oid], ...]} for
//                  `inputs`; null with `workspace: false`
//   "needs"        {need: key of the need's result}, for every stage it needs
//                  directly or not (their artifacts are its inputs)
// Not keyed: GANTRY_RUN_ID, GANTRY_COMMIT (informational), retry and
// allow_failure (they do not change what the stage computes). A changed
// secret value changes its HMAC, so the stages that use it run again; the
// same value on another runner gives the same key only when both share the
// HMAC key (`gantry secret key set`).
//
// The key is cache::typed_digest("gantry stage key", record): the one typed,
// length-prefixed encoding every cache key of gantry uses (step_key.h), after
// a domain that keeps a stage key from ever equalling a step or image key of
// the same value tree. The JSON text is stored beside the key in meta.db
// (stage_cache.record).
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "pipeline/pipeline.h"

namespace gantry::runner {

inline constexpr int kStageKeyFormat = 3;

nlohmann::json stage_key_record(const pipeline::StageDef& stage, const std::string& image_digest,
                                const std::string& environment, const nlohmann::json& workspace_identity,
                                const std::map<std::string, std::string>& need_keys,
                                const std::map<std::string, std::string>& secret_digests = {},
                                const std::map<std::string, std::string>& service_digests = {});

// The key of a stage-key record (above).
Digest stage_key(const nlohmann::json& record);

}  // namespace gantry::runner
