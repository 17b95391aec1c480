// The one grammar of image references in gantry (the distribution project's,
// github.com/distribution/reference):
//
//   reference  := [host "/"] path [":" tag] ["@" digest]
//   host       := domain-component ("." domain-component)* [":" port]
//               | "[" ipv6 "]" [":" port]
//   path       := component ("/" component)*      at most 255 characters
//   component  := [a-z0-9]+ (("." | "_" | "__" | "-"+) [a-z0-9]+)*
//   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//   digest     := "sha256:" 64 lowercase hex
//
// The first component is a host when more components follow and it holds a
// '.' or ':', is "localhost", or starts with '['. What a reference without a
// host means is the caller's business: a store name (cache/image_store.h) or
// Docker Hub (registry/reference.h). The pipeline checks `from:` and `push:`
// with it too (pipeline/loader.cpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/digest.h"
#include "common/error.h"

namespace gantry {

struct ImageRefParts {
  std::string host;              // "" when the reference names none
  std::string path;              // "team/base", "busybox"
  std::string tag;               // "" when none was given
  std::optional<Digest> digest;  // from "@sha256:..."
};

// invalid_input "invalid image reference '<text>': <why>" when `text` breaks
// the grammar.
Result<ImageRefParts> parse_image_ref(std::string_view text);

// Whether a first path component is a registry host (see above).
bool looks_like_registry_host(std::string_view first_component);

bool is_valid_image_tag(std::string_view tag);

}  // namespace gantry
