#include "runner/secret_mask.h"

#include <algorithm>
#include <cctype>

#include "registry/credentials.h"

namespace gantry::runner {

namespace {

std::string url_safe(std::string b64) {
  for (char& c : b64) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return b64;
}

std::string hex(std::string_view bytes, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string percent_encoded(std::string_view bytes, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 15]);
    }
  }
  return out;
}

// The base64 characters that depend on the value alone when it starts
// `shift` bytes (0, 1, 2) after a 3-byte boundary of a longer stream: bits
// [8*shift, 8*(shift+n)) of the stream; character i covers bits [6i, 6i+6).
std::string base64_core(const std::string& value, std::size_t shift) {
  std::string padded(shift, '\0');
  padded += value;
  padded.append(2, '\0');
  std::string b64 = registry::base64_encode(padded);
  std::size_t first = (8 * shift + 5) / 6;
  std::size_t last = (8 * (shift + value.size())) / 6;
  if (last <= first) return {};
  return b64.substr(first, last - first);
}

// KMP failure function: f[i] = length of the longest proper prefix of
// p[0..i] that is also a suffix of it.
std::vector<std::uint32_t> failure_function(const std::string& p) {
  std::vector<std::uint32_t> f(p.size(), 0);
  std::uint32_t k = 0;
  for (std::size_t i = 1; i < p.size(); ++i) {
    while (k > 0 && p[i] != p[k]) k = f[k - 1];
    if (p[i] == p[k]) ++k;
    f[i] = k;
  }
  return f;
}

}  // namespace

std::vector<std::string> secret_patterns(const std::string& value) {
  std::vector<std::string> out;
  if (value.empty()) return out;
  auto push = [&](std::string p, std::size_t min_size) {
    if (p.size() < min_size || std::find(out.begin(), out.end(), p) != out.end()) return;
    out.push_back(std::move(p));
  };
  push(value, 1);
  // Output arrives one line at a time: each line of a multi-line value too
  // (short lines such as "}" would mask too much; 4+ characters only).
  if (value.find('\n') != std::string::npos) {
    std::size_t start = 0;
    while (start <= value.size()) {
      std::size_t end = value.find('\n', start);
      if (end == std::string::npos) end = value.size();
      std::string line = value.substr(start, end - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      push(line, 4);
      start = end + 1;
    }
  }
  // `printf %s "$S" | base64` (padded), and the value inside a longer stream.
  std::string whole = registry::base64_encode(value);
  push(whole, kMinEncodedPattern);
  push(url_safe(whole), kMinEncodedPattern);
  for (std::size_t shift = 0; shift < 3; ++shift) {
    std::string core = base64_core(value, shift);
    push(core, kMinEncodedPattern);
    push(url_safe(core), kMinEncodedPattern);
  }
  push(hex(value, false), kMinEncodedPattern);
  push(hex(value, true), kMinEncodedPattern);
  push(percent_encoded(value, true), kMinEncodedPattern);
  push(percent_encoded(value, false), kMinEncodedPattern);
  return out;
}

void SecretMasker::add(const std::string& value) {
  for (auto& p : secret_patterns(value))
    if (std::find(values_.begin(), values_.end(), p) == values_.end()) values_.push_back(std::move(p));
  std::stable_sort(values_.begin(), values_.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  failure_.clear();
  for (const auto& p : values_) failure_.push_back(failure_function(p));
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

std::size_t SecretMasker::pending_prefix(std::string_view text) const {
  std::size_t longest = 0;
  for (std::size_t i = 0; i < values_.size(); ++i) {
    const std::string& p = values_[i];
    const auto& f = failure_[i];
    std::size_t window = std::min(text.size(), p.size() - 1);
    if (window <= longest) continue;
    // Run the pattern's automaton over the window: the final state is the
    // longest prefix of p that is a suffix of the window (< |p| by its size).
    std::uint32_t q = 0;
    for (char c : text.substr(text.size() - window)) {
      while (q > 0 && (q == p.size() || p[q] != c)) q = f[q - 1];
      if (p[q] == c) ++q;
    }
    longest = std::max<std::size_t>(longest, q);
  }
  return longest;
}

void MaskedStream::line(std::string_view text, bool continued) {
  buf_.append(text);
  if (!continued) buf_.push_back('\n');
  emit(false);
}

void MaskedStream::finish() { emit(true); }

void MaskedStream::emit(bool all) {
  if (buf_.empty()) return;
  buf_ = masker_.mask(buf_);
  std::size_t cut = buf_.size();
  if (!all) {
    std::size_t hold = masker_.pending_prefix(buf_);
    cut -= hold;
    // A complete line is held whole rather than shown in two parts; only the
    // piece of an over-long line (no '\n' at the end) is cut where the hold starts.
    bool ends_line = buf_.back() == '\n';
    if (hold > 0 && ends_line) {
      auto nl = buf_.rfind('\n', cut == 0 ? 0 : cut - 1);
      cut = (nl == std::string::npos || cut == 0) ? 0 : nl + 1;
    }
  }
  std::size_t start = 0;
  while (start < cut) {
    std::size_t nl = buf_.find('\n', start);
    if (nl == std::string::npos || nl >= cut) {
      sink_(std::string_view(buf_).substr(start, cut - start));
      start = cut;
      break;
    }
    sink_(std::string_view(buf_).substr(start, nl - start));
    start = nl + 1;
  }
  buf_.erase(0, cut);
}

}  // namespace gantry::runner
