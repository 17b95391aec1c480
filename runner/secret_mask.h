// Masks secret values as *** in every line gantry shows or stores.
//
// For each value it masks the value itself and its common encodings, each a
// separate pattern (docs/security.md, "What masking cannot promise"):
//   - every line of a multi-line value (4+ characters);
//   - base64, standard and URL-safe alphabets, with and without padding, at
//     the three alignments a value can have inside a longer base64 stream
//     (only the characters that depend on the value alone: the neighbours'
//     bits make the edge characters differ);
//   - hex, lowercase and uppercase;
//   - URL (percent) encoding, %XX uppercase and lowercase.
// Encoded patterns shorter than kMinEncodedPattern characters are not used
// (a 2-byte value's base64 would mask ordinary text everywhere).
//
// MaskedStream masks a stream of lines as it arrives: a value written in
// pieces, or one that spans lines, is caught because matching runs over the
// stream, not over one line; the lines at the end that could be the start of
// a value are held back until the next piece (or finish()) decides.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace gantry::runner {

inline constexpr std::size_t kMinEncodedPattern = 6;

// The patterns masked for one value (the value first, then its encodings).
std::vector<std::string> secret_patterns(const std::string& value);

class SecretMasker {
 public:
  void add(const std::string& value);
  bool empty() const { return values_.empty(); }
  // Every pattern replaced by ***, longest first.
  std::string mask(std::string_view text) const;
  const std::vector<std::string>& patterns() const { return values_; }
  // The length of the longest suffix of `text` that is a proper prefix of a pattern.
  std::size_t pending_prefix(std::string_view text) const;

 private:
  std::vector<std::string> values_;               // longest first
  std::vector<std::vector<std::uint32_t>> failure_;  // KMP failure function of each value
};

// Lines in, masked lines out (to `sink`), in order. One per output stream.
class MaskedStream {
 public:
  using Sink = std::function<void(std::string_view line)>;
  MaskedStream(const SecretMasker& masker, Sink sink) : masker_(masker), sink_(std::move(sink)) {}

  // One line without its '\n'; `continued` when the line goes on in the next
  // piece (the executor cuts lines longer than kMaxLineBytes).
  void line(std::string_view text, bool continued = false);
  // Emits whatever is held back.
  void finish();

 private:
  void emit(bool all);
  const SecretMasker& masker_;
  Sink sink_;
  std::string buf_;  // held text: whole lines end with '\n'; a continued piece does not
};

}  // namespace gantry::runner
