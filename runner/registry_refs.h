// Images a pipeline names by registry reference (`from: HOST/REPO:TAG`, a
// stage's `image: HOST/REPO@sha256:..`): pulled into the store on demand,
// once per reference, and validated like any other image reference.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "cache/image_store.h"
#include "cache/store.h"
#include "common/digest.h"
#include "common/error.h"
#include "pipeline/loader.h"
#include "runner/reporter.h"

namespace gantry::runner {

class RegistryRefs {
 public:
  // `reporter` (optional) gets a note for every image actually pulled.
  // `scope`: whose build tags a store reference may name (the pipeline's
  // project; cache::TagScope).
  explicit RegistryRefs(cache::Store& store, Reporter* reporter = nullptr, cache::TagScope scope = {})
      : store_(store), reporter_(reporter), scope_(std::move(scope)) {}

  // The manifest digest of `ref`: a registry reference is pulled when the
  // store lacks it (registry::ensure_image; a digest reference in the store is
  // never fetched again); any other reference is resolved in the store.
  Result<Digest> ensure(const std::string& ref);

  // For pipeline::validate_refs: whether ensure(ref) succeeds. The error of a
  // failed pull is kept for explain().
  bool exists(const std::string& ref);

  // The same diagnostics, with "unknown image" replaced by the pull error for
  // references whose pull failed, and by the store's reason for a build tag
  // of another project (position and key kept).
  pipeline::Diagnostics explain(const pipeline::Pipeline& p, const pipeline::Diagnostics& diags) const;

 private:
  cache::Store& store_;
  Reporter* reporter_;
  cache::TagScope scope_;
  mutable std::mutex mutex_;
  std::map<std::string, Result<Digest>> pulled_;  // registry references tried, by text
};

}  // namespace gantry::runner
