#include "common/units.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace gantry {

namespace {

// Reads a non-negative decimal number (digits with an optional fraction).
bool read_number(std::string_view& s, double& out) {
  std::size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + i, out);
  if (ec != std::errc() || ptr != s.data() + i) return false;
  s.remove_prefix(i);
  return true;
}

}  // namespace

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto bad = [&] {
    return fail(ErrorKind::invalid_input,
                "invalid duration '" + std::string(text) + "': expected e.g. 90s, 2m, 1h30m or 500ms");
  };
  if (text.empty()) return bad();
  std::string_view s = text;
  double total_ms = 0;
  bool any = false;
  while (!s.empty()) {
    double n = 0;
    if (!read_number(s, n)) return bad();
    double unit = 1000;  // a bare number means seconds
    if (s.starts_with("ms")) {
      unit = 1, s.remove_prefix(2);
    } else if (!s.empty() && s[0] == 's') {
      unit = 1000, s.remove_prefix(1);
    } else if (!s.empty() && s[0] == 'm') {
      unit = 60'000, s.remove_prefix(1);
    } else if (!s.empty() && s[0] == 'h') {
      unit = 3'600'000, s.remove_prefix(1);
    } else if (!s.empty()) {
      return bad();
    } else if (any) {
      return bad();  // "1m30" is ambiguous
    }
    total_ms += n * unit;
    any = true;
  }
  if (total_ms <= 0) return fail(ErrorKind::invalid_input, "invalid duration '" + std::string(text) + "': must be > 0");
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(total_ms)));
}

Result<std::uint64_t> parse_byte_size(std::string_view text) {
  auto bad = [&] {
    return fail(ErrorKind::invalid_input,
                "invalid size '" + std::string(text) + "': expected e.g. 256M, 1G, 512k or a number of bytes");
  };
  std::string_view s = text;
  double n = 0;
  if (!read_number(s, n)) return bad();
  double mult = 1;
  if (!s.empty()) {
    switch (std::tolower(static_cast<unsigned char>(s[0]))) {
      case 'b': mult = 1; break;
      case 'k': mult = 1024.0; break;
      case 'm': mult = 1024.0 * 1024; break;
      case 'g': mult = 1024.0 * 1024 * 1024; break;
      case 't': mult = 1024.0 * 1024 * 1024 * 1024; break;
      default: return bad();
    }
    s.remove_prefix(1);
    if (mult > 1 && (s == "i" || s == "iB" || s == "ib" || s == "B" || s == "b")) s = {};
    if (!s.empty()) return bad();
  }
  double bytes = n * mult;
  if (bytes < 1) return fail(ErrorKind::invalid_input, "invalid size '" + std::string(text) + "': must be > 0");
  return static_cast<std::uint64_t>(bytes);
}

Result<double> parse_cpus(std::string_view text) {
  std::string_view s = text;
  double n = 0;
  if (!read_number(s, n) || !s.empty() || n <= 0)
    return fail(ErrorKind::invalid_input, "invalid cpus '" + std::string(text) + "': expected a number > 0, e.g. 1.5");
  return n;
}

std::string format_duration(std::chrono::milliseconds d) {
  char buf[32];
  auto ms = d.count();
  if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%.2fs", static_cast<double>(ms) / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60'000),
                  static_cast<long long>((ms / 1000) % 60));
  }
  return buf;
}

std::string format_utc_time(std::int64_t epoch_seconds) {
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm utc{};
  ::gmtime_r(&t, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

}  // namespace gantry
