// Cron expressions of `schedules:` (docs/serve.md, "Schedules"): the
// standard 5 fields, minute hour day-of-month month day-of-week, each `*`, a
// number, a range `a-b`, a step `*/n` or `a-b/n` or `a/n`, or a list of those
// (`1,15,30-40/5`); months and weekdays by name too (`jan`, `mon-fri`;
// weekday 0 and 7 are Sunday); and the shorthands @yearly (@annually),
// @monthly, @weekly, @daily (@midnight), @hourly. As in Vixie cron, when both
// day fields are restricted a day matching either one matches. Times are UTC.
// No Debian package offers a C++ cron parser (apt-cache search cron: only
// Perl and Ruby ones), hence this small one.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>

#include "common/error.h"

namespace gantry::server {

class CronExpr {
 public:
  // invalid_input naming the field and what is wrong.
  static Result<CronExpr> parse(const std::string& text);

  // Whether the minute that starts at `unix_seconds` (UTC) is a slot.
  bool matches(std::int64_t unix_seconds) const;
  // The first slot strictly after `unix_seconds`; nullopt when none within 8 years.
  std::optional<std::int64_t> next_after(std::int64_t unix_seconds) const;
  // The last slot at or before `unix_seconds`; nullopt when none within 8 years.
  std::optional<std::int64_t> last_at_or_before(std::int64_t unix_seconds) const;

  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;      // 1..31
  std::bitset<13> months_;    // 1..12
  std::bitset<7> weekdays_;   // 0 = Sunday
  bool days_star_ = false;
  bool weekdays_star_ = false;
  bool day_matches(int mday, int month, int wday) const;
};

}  // namespace gantry::server
