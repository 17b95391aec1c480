#include "cache/layer_path.h"

namespace gantry::cache {

Result<std::string> normalize_layer_path(std::string_view path) {
  if (!path.empty() && path.front() == '/')
    return fail(ErrorKind::invalid_input, "entry '" + std::string(path) + "' has an absolute path");
  std::string out;
  std::size_t i = 0;
  while (i <= path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view comp = path.substr(i, j - i);
    if (comp == "..")
      return fail(ErrorKind::invalid_input, "entry '" + std::string(path) + "' has a '..' component");
    if (!comp.empty() && comp != ".") {
      if (!out.empty()) out.push_back('/');
      out.append(comp);
    }
    i = j + 1;
  }
  return out;
}

std::vector<std::string> split_path(const std::string& clean) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < clean.size()) {
    std::size_t j = clean.find('/', i);
    if (j == std::string::npos) j = clean.size();
    if (j > i) out.push_back(clean.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace gantry::cache
