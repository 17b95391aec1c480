// The cron expressions of `schedules:` (server/cron.h): fields, ranges,
// steps, lists, names, shorthands, the day-of-month/day-of-week rule, next
// and previous slots, and the errors that name the field.
#include <gtest/gtest.h>

#include <chrono>

#include "server/cron.h"

namespace gantry::server {
namespace {

// Unix seconds of a UTC date and time.
std::int64_t utc(int y, int mo, int d, int h = 0, int mi = 0) {
  using namespace std::chrono;
  return sys_days{year{y} / month{unsigned(mo)} / day{unsigned(d)}}.time_since_epoch().count() * 86400 + h * 3600 + mi * 60;
}

CronExpr parse(const std::string& text) {
  auto e = CronExpr::parse(text);
  EXPECT_TRUE(e.has_value()) << text << ": " << (e ? "" : e.error().message());
  return e ? *e : *CronExpr::parse("* * * * *");
}

TEST(Cron, EveryMinute_NextIsTheNextWholeMinute) {
  auto e = parse("* * * * *");
  EXPECT_EQ(e.next_after(utc(2026, 11, 30, 13, 5) + 17), utc(2026, 11, 30, 13, 6));
  EXPECT_EQ(e.next_after(utc(2026, 11, 30, 13, 5)), utc(2026, 11, 30, 13, 6));
  EXPECT_EQ(e.last_at_or_before(utc(2026, 11, 30, 13, 5) + 59), utc(2026, 11, 30, 13, 5));
}

TEST(Cron, Nightly_CrossesDayMonthAndYear) {
  auto e = parse("30 3 * * *");
  EXPECT_EQ(e.next_after(utc(2026, 12, 31, 4, 0)), utc(2027, 1, 1, 3, 30));
  EXPECT_EQ(e.next_after(utc(2026, 12, 31, 3, 29)), utc(2026, 12, 31, 3, 30));
  EXPECT_EQ(e.last_at_or_before(utc(2027, 1, 1, 3, 29)), utc(2026, 12, 31, 3, 30));
  EXPECT_TRUE(e.matches(utc(2026, 6, 1, 3, 30)));
  EXPECT_FALSE(e.matches(utc(2026, 6, 1, 3, 31)));
}

TEST(Cron, StepsRangesListsAndNames) {
  auto quarter = parse("*/15 * * * *");
  EXPECT_EQ(quarter.next_after(utc(2026, 1, 1, 0, 1)), utc(2026, 1, 1, 0, 15));
  EXPECT_EQ(quarter.next_after(utc(2026, 1, 1, 0, 45)), utc(2026, 1, 1, 1, 0));
  auto workdays = parse("0 9-17/4 * * mon-fri");  // 9, 13, 17 on weekdays
  // 2026-11-28 is a Saturday: the next slot is Monday 09:00.
  EXPECT_EQ(workdays.next_after(utc(2026, 11, 28, 12, 0)), utc(2026, 11, 30, 9, 0));
  EXPECT_EQ(workdays.next_after(utc(2026, 11, 30, 9, 0)), utc(2026, 11, 30, 13, 0));
  EXPECT_EQ(workdays.next_after(utc(2026, 11, 30, 17, 0)), utc(2026, 12, 1, 9, 0));
  auto list = parse("5,10,50-52 0 1 JAN,jul *");
  EXPECT_EQ(list.next_after(utc(2026, 1, 1, 0, 10)), utc(2026, 1, 1, 0, 50));
  EXPECT_EQ(list.next_after(utc(2026, 1, 1, 0, 52)), utc(2026, 7, 1, 0, 5));
  auto from = parse("50/5 * * * *");  // 50, 55
  EXPECT_EQ(from.next_after(utc(2026, 1, 1, 0, 56)), utc(2026, 1, 1, 1, 50));
}

TEST(Cron, SundayIsZeroOrSeven_BothDayFieldsRestricted_EitherMatches) {
  EXPECT_EQ(parse("0 0 * * 7").next_after(utc(2026, 11, 30)), utc(2026, 12, 6));  // Sunday
  EXPECT_EQ(parse("0 0 * * 0").next_after(utc(2026, 11, 30)), utc(2026, 12, 6));
  // The 15th or any Friday (Vixie cron's rule when both are restricted).
  auto either = parse("0 0 15 * fri");
  EXPECT_EQ(either.next_after(utc(2026, 12, 1)), utc(2026, 12, 4));   // Friday the 4th
  EXPECT_EQ(either.next_after(utc(2026, 12, 11)), utc(2026, 12, 15)); // Tuesday the 15th
  // With a `*` day of week, the day of month alone decides.
  EXPECT_EQ(parse("0 0 15 * *").next_after(utc(2026, 12, 1)), utc(2026, 12, 15));
}

TEST(Cron, Shorthands_And_LeapDay) {
  EXPECT_EQ(parse("@daily").next_after(utc(2026, 3, 1, 12)), utc(2026, 3, 2));
  EXPECT_EQ(parse("@hourly").next_after(utc(2026, 3, 1, 12, 1)), utc(2026, 3, 1, 13));
  EXPECT_EQ(parse("@weekly").next_after(utc(2026, 11, 30)), utc(2026, 12, 6));
  EXPECT_EQ(parse("@monthly").last_at_or_before(utc(2026, 3, 15)), utc(2026, 3, 1));
  EXPECT_EQ(parse("@yearly").next_after(utc(2026, 3, 1)), utc(2027, 1, 1));
  EXPECT_EQ(parse("0 12 29 2 *").next_after(utc(2026, 3, 1)), utc(2028, 2, 29, 12));
}

TEST(Cron, Errors_NameTheFieldAndTheProblem) {
  auto message = [](const std::string& text) {
    auto e = CronExpr::parse(text);
    EXPECT_FALSE(e.has_value()) << text;
    return e ? std::string() : e.error().message();
  };
  EXPECT_NE(message("* * * *").find("expected 5 fields"), std::string::npos);
  EXPECT_NE(message("60 * * * *").find("minute field '60': 60 is out of range 0-59"), std::string::npos);
  EXPECT_NE(message("* 24 * * *").find("hour field"), std::string::npos);
  EXPECT_NE(message("* * 0 * *").find("day of month field"), std::string::npos);
  EXPECT_NE(message("* * * foo *").find("month field 'foo': unknown name 'foo'"), std::string::npos);
  EXPECT_NE(message("* * * * 8").find("day of week field"), std::string::npos);
  EXPECT_NE(message("*/0 * * * *").find("step '0'"), std::string::npos);
  EXPECT_NE(message("30-10 * * * *").find("goes backwards"), std::string::npos);
  EXPECT_NE(message("0 0 30 2 *").find("never matches"), std::string::npos);
  EXPECT_NE(message("@sometimes").find("unknown shorthand"), std::string::npos);
  EXPECT_NE(message("1,,2 * * * *").find("minute field"), std::string::npos);
}

}  // namespace
}  // namespace gantry::server
