#include "server/cron.h"

#include <charconv>
#include <chrono>
#include <map>
#include <sstream>
#include <vector>

namespace gantry::server {

namespace {

struct Field {
  const char* name;
  int min;
  int max;
  const char* const* names;  // index = value - name_base, or nullptr
  int name_base;
};

constexpr const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                   "jul", "aug", "sep", "oct", "nov", "dec", nullptr};
constexpr const char* kWeekdays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", nullptr};

constexpr Field kFields[] = {{"minute", 0, 59, nullptr, 0},
                             {"hour", 0, 23, nullptr, 0},
                             {"day of month", 1, 31, nullptr, 0},
                             {"month", 1, 12, kMonths, 1},
                             {"day of week", 0, 7, kWeekdays, 0}};

Result<int> value_of(const Field& f, const std::string& token, const std::string& field_text) {
  auto bad = [&](const std::string& why) {
    return fail(ErrorKind::invalid_input, std::string(f.name) + " field '" + field_text + "': " + why);
  };
  if (token.empty()) return bad("empty value");
  if (f.names && std::isalpha(static_cast<unsigned char>(token[0]))) {
    std::string lower;
    for (char c : token) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    for (int i = 0; f.names[i]; ++i)
      if (lower == f.names[i]) return i + f.name_base;
    return bad("unknown name '" + token + "'");
  }
  int v = 0;
  auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (ec != std::errc() || end != token.data() + token.size()) return bad("'" + token + "' is not a number");
  if (v < f.min || v > f.max)
    return bad(token + " is out of range " + std::to_string(f.min) + "-" + std::to_string(f.max));
  return v;
}

// Sets bits [min..max] of the field's values; `star`: the field is `*` or `*/n`.
Result<std::vector<bool>> parse_field(const Field& f, const std::string& text, bool& star) {
  std::vector<bool> bits(static_cast<std::size_t>(f.max + 1), false);
  star = text == "*" || text.starts_with("*/");
  std::stringstream parts(text);
  std::string part;
  bool any = false;
  while (std::getline(parts, part, ',')) {
    any = true;
    int step = 1;
    std::string range = part;
    if (auto slash = part.find('/'); slash != std::string::npos) {
      range = part.substr(0, slash);
      const std::string s = part.substr(slash + 1);
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), step);
      if (ec != std::errc() || end != s.data() + s.size() || step < 1)
        return fail(ErrorKind::invalid_input, std::string(f.name) + " field '" + text + "': step '" + s +
                                                  "' is not a positive number");
    }
    int lo = f.min, hi = f.max;
    if (range != "*") {
      auto dash = range.find('-');
      lo = TRY(value_of(f, range.substr(0, dash), text));
      if (dash != std::string::npos) hi = TRY(value_of(f, range.substr(dash + 1), text));
      else if (part.find('/') == std::string::npos) hi = lo;
      // else `a/n`: from a to the field's end
      if (lo > hi)
        return fail(ErrorKind::invalid_input, std::string(f.name) + " field '" + text + "': range " + range +
                                                  " goes backwards");
    }
    for (int v = lo; v <= hi; v += step) bits[static_cast<std::size_t>(v)] = true;
  }
  if (!any) return fail(ErrorKind::invalid_input, std::string(f.name) + " field is empty");
  return bits;
}

struct Civil {
  int year, month, day, hour, minute, wday;
};

Civil civil(std::int64_t unix_seconds) {
  using namespace std::chrono;
  const sys_seconds t{seconds(unix_seconds)};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  return {int(ymd.year()), int(unsigned(ymd.month())), int(unsigned(ymd.day())), int(hms.hours().count()),
          int(hms.minutes().count()), int(weekday{day}.c_encoding())};
}

std::int64_t unix_of(int year, int month, int day, int hour, int minute) {
  using namespace std::chrono;
  const sys_days d{std::chrono::year{year} / std::chrono::month{unsigned(month)} / std::chrono::day{unsigned(day)}};
  return d.time_since_epoch().count() * 86400 + hour * 3600 + minute * 60;
}

constexpr std::int64_t kHorizon = 8LL * 366 * 86400;

}  // namespace

Result<CronExpr> CronExpr::parse(const std::string& text) {
  static const std::map<std::string, std::string> kShorthands = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"}};
  std::string expanded = text;
  if (text.starts_with("@")) {
    auto it = kShorthands.find(text);
    if (it == kShorthands.end())
      return fail(ErrorKind::invalid_input, "'" + text + "': unknown shorthand (@yearly, @monthly, @weekly, @daily, @hourly)");
    expanded = it->second;
  }
  std::vector<std::string> fields;
  std::stringstream in(expanded);
  for (std::string f; in >> f;) fields.push_back(f);
  if (fields.size() != 5)
    return fail(ErrorKind::invalid_input, "'" + text + "': expected 5 fields (minute hour day-of-month month "
                                          "day-of-week), got " + std::to_string(fields.size()));
  CronExpr e;
  e.text_ = text;
  bool star = false;
  auto minutes = TRY(parse_field(kFields[0], fields[0], star));
  auto hours = TRY(parse_field(kFields[1], fields[1], star));
  auto days = TRY(parse_field(kFields[2], fields[2], e.days_star_));
  auto months = TRY(parse_field(kFields[3], fields[3], star));
  auto weekdays = TRY(parse_field(kFields[4], fields[4], e.weekdays_star_));
  for (std::size_t i = 0; i < minutes.size(); ++i) e.minutes_[i] = minutes[i];
  for (std::size_t i = 0; i < hours.size(); ++i) e.hours_[i] = hours[i];
  for (std::size_t i = 1; i < days.size(); ++i) e.days_[i] = days[i];
  for (std::size_t i = 1; i < months.size(); ++i) e.months_[i] = months[i];
  for (std::size_t i = 0; i < weekdays.size(); ++i) e.weekdays_[i % 7] = e.weekdays_[i % 7] || weekdays[i];
  if (!e.next_after(0))
    return fail(ErrorKind::invalid_input, "'" + text + "': never matches (no such day)");
  return e;
}

bool CronExpr::day_matches(int mday, int month, int wday) const {
  if (!months_[static_cast<std::size_t>(month)]) return false;
  const bool dom = days_[static_cast<std::size_t>(mday)];
  const bool dow = weekdays_[static_cast<std::size_t>(wday)];
  if (days_star_ || weekdays_star_) return dom && dow;
  return dom || dow;
}

bool CronExpr::matches(std::int64_t unix_seconds) const {
  const Civil c = civil(unix_seconds);
  return day_matches(c.day, c.month, c.wday) && hours_[static_cast<std::size_t>(c.hour)] &&
         minutes_[static_cast<std::size_t>(c.minute)];
}

std::optional<std::int64_t> CronExpr::next_after(std::int64_t unix_seconds) const {
  std::int64_t t = (unix_seconds >= 0 ? unix_seconds / 60 : (unix_seconds - 59) / 60) * 60 + 60;
  const std::int64_t end = t + kHorizon;
  while (t < end) {
    const Civil c = civil(t);
    if (!day_matches(c.day, c.month, c.wday)) {
      t = unix_of(c.year, c.month, c.day, 0, 0) + 86400;  // the next day's midnight
      continue;
    }
    if (!hours_[static_cast<std::size_t>(c.hour)]) {
      t = unix_of(c.year, c.month, c.day, c.hour, 0) + 3600;
      continue;
    }
    if (!minutes_[static_cast<std::size_t>(c.minute)]) {
      t += 60;
      continue;
    }
    return t;
  }
  return std::nullopt;
}

std::optional<std::int64_t> CronExpr::last_at_or_before(std::int64_t unix_seconds) const {
  std::int64_t t = (unix_seconds >= 0 ? unix_seconds / 60 : (unix_seconds - 59) / 60) * 60;
  const std::int64_t end = t - kHorizon;
  while (t > end) {
    const Civil c = civil(t);
    if (!day_matches(c.day, c.month, c.wday)) {
      t = unix_of(c.year, c.month, c.day, 0, 0) - 60;  // the previous day's 23:59
      continue;
    }
    if (!hours_[static_cast<std::size_t>(c.hour)]) {
      t = unix_of(c.year, c.month, c.day, c.hour, 0) - 60;
      continue;
    }
    if (!minutes_[static_cast<std::size_t>(c.minute)]) {
      t -= 60;
      continue;
    }
    return t;
  }
  return std::nullopt;
}

}  // namespace gantry::server
