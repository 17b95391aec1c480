#include <algorithm>
#include <cctype>

#include "pipeline/loader.h"

namespace gantry::pipeline {

std::string Diagnostic::str() const {
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  out += ": ";
  if (!key.empty()) out += key + ": ";
  return out + message;
}

void Diagnostics::add(const std::string& file, SourcePos pos, std::string key, std::string message) {
  items_.push_back(Diagnostic{file, pos.line, pos.column, std::move(key), std::move(message)});
}

void Diagnostics::append(const Diagnostics& other) {
  items_.insert(items_.end(), other.items_.begin(), other.items_.end());
}

void Diagnostics::sort() {
  std::stable_sort(items_.begin(), items_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    if (a.file != b.file) return a.file < b.file;
    if (a.line != b.line) return a.line < b.line;
    return a.column < b.column;
  });
}

std::string Diagnostics::str() const {
  std::string out;
  for (const auto& d : items_) {
    if (!out.empty()) out += '\n';
    out += d.str();
  }
  return out;
}

Error Diagnostics::to_error() const {
  if (items_.empty()) return Error(ErrorKind::internal, "no diagnostics");
  std::string head = std::to_string(items_.size()) + (items_.size() == 1 ? " problem in " : " problems in ") +
                     items_.front().file + ":\n";
  return Error(ErrorKind::invalid_input, head + str());
}

namespace {

// Optimal string alignment distance (Levenshtein plus adjacent transpositions),
// case-insensitive.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1]))
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

}  // namespace

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = 0;
  // Up to 1 edit for short words, 2 for longer ones, 3 for long names.
  const std::size_t limit = word.size() <= 3 ? 1 : word.size() <= 8 ? 2 : 3;
  for (const auto& c : candidates) {
    if (c == word) continue;
    std::size_t d = edit_distance(word, c);
    if (d <= limit && d < c.size() && (best.empty() || d < best_d)) best = c, best_d = d;
  }
  return best;
}

}  // namespace gantry::pipeline
