// Masks secret values as *** in every line gantry shows or stores. A value
// that spans lines is also masked line by line (output arrives per line).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gantry::runner {

class SecretMasker {
 public:
  void add(const std::string& value);
  bool empty() const { return values_.empty(); }
  std::string mask(std::string_view text) const;

 private:
  std::vector<std::string> values_;  // longest first
};

}  // namespace gantry::runner
