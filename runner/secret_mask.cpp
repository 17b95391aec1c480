#include "runner/secret_mask.h"

#include <algorithm>

namespace gantry::runner {

void SecretMasker::add(const std::string& value) {
  auto push = [&](const std::string& v) {
    if (v.empty() || std::find(values_.begin(), values_.end(), v) != values_.end()) return;
    values_.push_back(v);
  };
  push(value);
  // Output arrives one line at a time: mask each line of a multi-line value
  // too (short lines such as "}" would mask too much; 4+ characters only).
  if (value.find('\n') != std::string::npos) {
    std::size_t start = 0;
    while (start <= value.size()) {
      std::size_t end = value.find('\n', start);
      if (end == std::string::npos) end = value.size();
      std::string line = value.substr(start, end - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.size() >= 4) push(line);
      start = end + 1;
    }
  }
  std::stable_sort(values_.begin(), values_.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string SecretMasker::mask(std::string_view text) const {
  std::string out(text);
  for (const auto& v : values_) {
    std::size_t pos = 0;
    while ((pos = out.find(v, pos)) != std::string::npos) {
      out.replace(pos, v.size(), "***");
      pos += 3;
    }
  }
  return out;
}

}  // namespace gantry::runner
