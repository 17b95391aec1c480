// Parsing of the human units users write in flags and .gantry.yml:
// durations ("90s", "2m", "1h30m", "500ms", a bare number = seconds) and
// byte sizes ("256M", "1G", "512k", "1.5g", a bare number = bytes; binary
// multiples, as docker and podman read them).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace gantry {

Result<std::chrono::milliseconds> parse_duration(std::string_view text);
Result<std::uint64_t> parse_byte_size(std::string_view text);
// "1.5" → 1.5 CPUs; must be > 0.
Result<double> parse_cpus(std::string_view text);

std::string format_duration(std::chrono::milliseconds d);  // "1.23s", "2m03s"

// RFC 3339 UTC time of epoch seconds: "2026-11-25T23:03:37Z".
std::string format_utc_time(std::int64_t epoch_seconds);

}  // namespace gantry
