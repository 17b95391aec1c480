#include "runner/stage_tests.h"

#include <sys/stat.h>

#include <map>
#include <set>

#include "common/file_util.h"
#include "runner/stage_artifacts.h"

namespace gantry::runner {

namespace {

using nlohmann::json;

bool failing(TestStatus s) { return s == TestStatus::failed || s == TestStatus::error; }

json case_json(const TestCase& c) {
  json j = {{"id", c.id()},     {"suite", c.suite}, {"classname", c.classname}, {"name", c.name},
            {"status", std::string(to_string(c.status))}, {"duration_ms", c.duration_ms}};
  // The text of passed tests is not kept: reports of large suites stay small.
  if (c.status != TestStatus::passed) {
    j["message"] = c.message;
    j["output"] = c.output;
  }
  return j;
}

Result<TestCase> case_from_json(const json& j) {
  TestCase c;
  c.suite = j.value("suite", "");
  c.classname = j.value("classname", "");
  c.name = j.value("name", "");
  auto status = test_status_from_string(j.value("status", ""));
  if (!status) return fail(ErrorKind::invalid_input, "unknown test status '" + j.value("status", "") + "'");
  c.status = *status;
  c.duration_ms = j.value("duration_ms", std::int64_t{0});
  c.message = j.value("message", "");
  c.output = j.value("output", "");
  return c;
}

}  // namespace

AttemptTests read_attempt_tests(const std::vector<std::string>& patterns, int attempt, const std::string& upper_dir,
                                const std::vector<std::string>& lowerdirs) {
  AttemptTests out;
  out.attempt = attempt;
  for (const auto& pattern : patterns) {
    auto files = read_container_files(pattern, upper_dir, lowerdirs, kMaxReportBytes, out.warnings);
    if (!files) {
      out.warnings.push_back("report " + pattern + ": " + files.error().message());
      continue;
    }
    if (files->empty()) out.warnings.push_back("report " + pattern + ": no such file after the stage");
    for (const auto& file : *files) {
      out.files.push_back(file.path);
      auto report = parse_junit(file.bytes, file.path);
      if (!report) {
        out.warnings.push_back(report.error().message());
        continue;
      }
      for (auto& w : report->warnings) out.warnings.push_back(file.path + ": " + w);
      for (auto& c : report->cases) {
        if (out.report.cases.size() >= kMaxTestCases) {
          out.warnings.push_back(file.path + ": more than " + std::to_string(kMaxTestCases) +
                                 " test cases in the stage's reports; the rest are not kept");
          break;
        }
        out.report.cases.push_back(std::move(c));
      }
    }
  }
  return out;
}

json test_totals_json(const TestReport& report) {
  return {{"tests", report.cases.size()},
          {"passed", report.count(TestStatus::passed)},
          {"failed", report.count(TestStatus::failed)},
          {"error", report.count(TestStatus::error)},
          {"skipped", report.count(TestStatus::skipped)}};
}

json stage_tests_json(const StageTests& tests) {
  json attempts = json::array();
  for (const auto& a : tests.attempts) {
    json cases = json::array();
    for (const auto& c : a.report.cases) cases.push_back(case_json(c));
    attempts.push_back({{"attempt", a.attempt},
                        {"files", a.files},
                        {"warnings", a.warnings},
                        {"totals", test_totals_json(a.report)},
                        {"cases", cases}});
  }
  return {{"run", tests.run_id}, {"stage", tests.stage}, {"key", tests.key}, {"attempts", attempts}};
}

Status save_stage_tests(const std::string& path, const StageTests& tests) {
  auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  return write_file_atomic(path, stage_tests_json(tests).dump(), dir);
}

Result<std::optional<StageTests>> load_stage_tests(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<StageTests>();
    return fail_sys("stat", path);
  }
  auto text = TRY(read_file(path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(ErrorKind::invalid_input, path + ": not a test results file");
  StageTests out;
  try {
    out.run_id = j.value("run", "");
    out.stage = j.value("stage", "");
    out.key = j.value("key", "");
    for (const auto& a : j.at("attempts")) {
      AttemptTests attempt;
      attempt.attempt = a.value("attempt", 1);
      attempt.files = a.value("files", std::vector<std::string>{});
      attempt.warnings = a.value("warnings", std::vector<std::string>{});
      for (const auto& c : a.at("cases")) attempt.report.cases.push_back(TRY_CTX(case_from_json(c), path));
      out.attempts.push_back(std::move(attempt));
    }
  } catch (const json::exception& e) {
    return fail(ErrorKind::invalid_input, path + ": " + e.what());
  }
  return std::optional<StageTests>(std::move(out));
}

std::vector<std::string> flaky_tests(const std::vector<const StageTests*>& same_key) {
  std::map<std::string, std::pair<bool, bool>> seen;  // id -> (passed once, failed once)
  for (const auto* tests : same_key)
    for (const auto& attempt : tests->attempts)
      for (const auto& c : attempt.report.cases) {
        auto& [passed, failed] = seen[c.id()];
        if (c.status == TestStatus::passed) passed = true;
        if (failing(c.status)) failed = true;
      }
  std::vector<std::string> out;
  for (const auto& [id, outcome] : seen)
    if (outcome.first && outcome.second) out.push_back(id);
  return out;
}

}  // namespace gantry::runner
