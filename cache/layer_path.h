// Private to cache/: normalising and checking paths inside a layer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace gantry::cache {

// "./a//b/" -> "a/b"; "" or "." -> "" (the layer root). Rejects absolute
// paths and ".." components (invalid_input naming the path).
Result<std::string> normalize_layer_path(std::string_view path);

// "a/b/c" -> {"a", "b", "c"}
std::vector<std::string> split_path(const std::string& clean);

}  // namespace gantry::cache
