// JUnit XML test reports (the format GoogleTest's --gtest_output=xml,
// pytest's --junitxml, JUnit, go-junit-report, ... write), read with libxml2.
// A report comes from a stage: untrusted. The parser never loads a DTD or an
// external entity, never substitutes entities, refuses more than
// kMaxReportBytes, keeps at most kMaxTestCases cases and cuts each message and
// output to kMaxTestText bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace gantry::runner {

inline constexpr std::size_t kMaxReportBytes = 32u << 20;
inline constexpr std::size_t kMaxTestCases = 100000;
inline constexpr std::size_t kMaxTestText = 16u << 10;

enum class TestStatus { passed, failed, error, skipped };
std::string_view to_string(TestStatus status);
// nullopt for an unknown word.
std::optional<TestStatus> test_status_from_string(std::string_view word);

struct TestCase {
  std::string suite;      // <testsuite name>
  std::string classname;  // <testcase classname>
  std::string name;       // <testcase name>
  TestStatus status = TestStatus::passed;
  std::int64_t duration_ms = 0;
  std::string message;    // failure/error/skipped message attribute, else the first line of its text
  std::string output;     // failure/error text, then system-out and system-err (cut to kMaxTestText)
  std::string id() const;  // "classname.name" (or suite.name when there is no classname)
};

struct TestReport {
  std::vector<TestCase> cases;
  std::vector<std::string> warnings;  // cases dropped past kMaxTestCases, ...
  int count(TestStatus status) const;
};

// Parses one report; `name` (the file's path) goes into error messages.
// invalid_input for what is not a JUnit XML report.
Result<TestReport> parse_junit(const std::string& xml, const std::string& name);

}  // namespace gantry::runner
