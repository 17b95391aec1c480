// Image references: NAME[:TAG], NAME@sha256:<hex>, sha256:<hex>.
#include "cache/image_store.h"

#include "common/image_ref.h"

namespace gantry::cache {

std::string Reference::str() const {
  if (digest && name.empty()) return digest->str();
  if (digest) return name + "@" + digest->str();
  return name + ":" + tag;
}

Result<Reference> Reference::parse(const std::string& text) {
  Reference ref;
  if (text.starts_with("sha256:")) {  // a bare digest, never the name "sha256"
    auto d = Digest::parse(text);
    if (!d) return fail(d.error());
    ref.digest = *d;
    return ref;
  }
  // common/image_ref.h: the one grammar; a store name keeps its host in the name.
  auto parts = TRY(parse_image_ref(text));
  ref.name = parts.host.empty() ? parts.path : parts.host + "/" + parts.path;
  ref.tag = parts.tag.empty() && !parts.digest ? "latest" : parts.tag;
  ref.digest = parts.digest;
  return ref;
}

}  // namespace gantry::cache
