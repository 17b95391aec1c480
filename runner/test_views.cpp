#include "runner/test_views.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "cache/metadata.h"
#include "pipeline/pipeline.h"
#include "runner/stage_tests.h"

namespace gantry::runner {

namespace {

using nlohmann::json;

// Failed and errored first, then skipped, then passed; by id within each.
int rank(TestStatus s) {
  switch (s) {
    case TestStatus::failed:
    case TestStatus::error: return 0;
    case TestStatus::skipped: return 1;
    case TestStatus::passed: return 2;
  }
  return 3;
}

// The test results a stage result points at: its own run's, or (cached)
// those of the run it was cached from.
Result<std::optional<StageTests>> tests_of(cache::Store& store, const std::string& run_id,
                                           const cache::StageResult& s) {
  const std::string from = s.cached && !s.cached_from.empty() ? s.cached_from : run_id;
  return load_stage_tests(store.paths().stage_tests(from, pipeline::stage_file_name(s.stage)));
}

struct History {
  std::map<std::string, std::vector<StageTests>> by_key;  // "stage\nkey" -> results
  int runs = 0;
};

// Every kept test result of the project's newest `limit` runs, by stage and key.
Result<History> project_history(cache::Store& store, const std::string& project, int limit) {
  History h;
  auto runs = TRY(store.metadata().list_runs({.project = project, .limit = limit}));
  h.runs = static_cast<int>(runs.size());
  for (const auto& run : runs)
    for (const auto& s : run.stages) {
      if (s.cached) continue;  // the same results as the run it came from
      auto tests = TRY(load_stage_tests(store.paths().stage_tests(run.id, pipeline::stage_file_name(s.stage))));
      if (tests && !tests->key.empty()) h.by_key[tests->stage + "\n" + tests->key].push_back(std::move(*tests));
    }
  return h;
}

json case_json(const TestCase& c) {
  json j = {{"id", c.id()}, {"status", std::string(to_string(c.status))}, {"duration_ms", c.duration_ms}};
  if (c.status != TestStatus::passed) {
    j["message"] = c.message;
    j["output"] = c.output;
  }
  return j;
}

}  // namespace

Result<json> run_tests_json(cache::Store& store, const std::string& run_id, const std::string& stage) {
  auto run = TRY(store.metadata().find_run(run_id));
  History history = TRY(project_history(store, run.project, 100));
  json stages = json::array();
  for (const auto& s : run.stages) {
    if (!stage.empty() && s.stage != stage) continue;
    auto tests = TRY(tests_of(store, run.id, s));
    if (!tests || tests->attempts.empty()) continue;
    const AttemptTests& last = tests->attempts.back();
    std::vector<const TestCase*> cases;
    for (const auto& c : last.report.cases) cases.push_back(&c);
    std::stable_sort(cases.begin(), cases.end(), [](const TestCase* a, const TestCase* b) {
      return std::tuple(rank(a->status), a->id()) < std::tuple(rank(b->status), b->id());
    });
    json cases_json = json::array();
    for (const auto* c : cases) cases_json.push_back(case_json(*c));
    // Flaky: over this stage's attempts and every recorded run of its key.
    std::vector<const StageTests*> same_key{&*tests};
    if (auto it = history.by_key.find(tests->stage + "\n" + tests->key); it != history.by_key.end())
      for (const auto& other : it->second)
        if (other.run_id != tests->run_id) same_key.push_back(&other);
    stages.push_back({{"stage", s.stage},
                      {"cached_from", s.cached ? json(s.cached_from) : json()},
                      {"key", tests->key},
                      {"attempts", tests->attempts.size()},
                      {"totals", test_totals_json(last.report)},
                      {"warnings", last.warnings},
                      {"flaky", flaky_tests(same_key)},
                      {"cases", cases_json}});
  }
  if (!stage.empty() && stages.empty())
    return fail(ErrorKind::not_found, "stage " + stage + " of run " + run.id + " kept no test results" +
                                          " (a stage keeps them with `reports: {junit: ...}`)");
  return json{{"run", run.id}, {"stages", stages}};
}

Status print_tests(cache::Store& store, const std::string& run_id, const std::string& stage, bool as_json,
                   std::ostream& out) {
  json doc = TRY(run_tests_json(store, run_id, stage));
  if (as_json) {
    out << doc.dump(2) << "\n";
    return {};
  }
  if (doc["stages"].empty()) {
    out << "run " << doc["run"].get<std::string>() << ": no stage kept test results\n";
    return {};
  }
  for (const auto& s : doc["stages"]) {
    const auto& t = s["totals"];
    const int failed = t["failed"].get<int>() + t["error"].get<int>();
    out << s["stage"].get<std::string>() << ": " << t["tests"].get<int>() << " tests, " << failed << " failed, "
        << t["skipped"].get<int>() << " skipped";
    if (!s["cached_from"].is_null()) out << " (cached from run " << s["cached_from"].get<std::string>() << ")";
    if (s["attempts"].get<int>() > 1) out << " (attempt " << s["attempts"].get<int>() << ")";
    out << "\n";
    for (const auto& c : s["cases"]) {
      const std::string status = c["status"];
      if (status != "failed" && status != "error") break;  // failed ones come first
      out << "  " << (status == "error" ? "ERROR " : "FAILED ") << c["id"].get<std::string>();
      if (!c["message"].get<std::string>().empty()) out << ": " << c["message"].get<std::string>();
      out << "\n";
      std::string output = c["output"];
      std::size_t start = 0, lines = 0;
      while (start < output.size() && lines < 20) {
        auto end = output.find('\n', start);
        if (end == std::string::npos) end = output.size();
        out << "    " << output.substr(start, end - start) << "\n";
        start = end + 1;
        ++lines;
      }
    }
    for (const auto& id : s["flaky"]) out << "  flaky " << id.get<std::string>() << "\n";
    for (const auto& w : s["warnings"]) out << "  warning: " << w.get<std::string>() << "\n";
  }
  return {};
}

Result<json> flaky_tests_json(cache::Store& store, const std::string& project, int runs) {
  History history = TRY(project_history(store, project, runs));
  json flaky = json::array();
  for (const auto& [stage_key, results] : history.by_key) {
    std::vector<const StageTests*> same_key;
    for (const auto& r : results) same_key.push_back(&r);
    for (const auto& id : flaky_tests(same_key)) {
      std::set<std::string> failed_in, passed_in;
      for (const auto* r : same_key)
        for (const auto& a : r->attempts)
          for (const auto& c : a.report.cases) {
            if (c.id() != id) continue;
            if (c.status == TestStatus::passed) passed_in.insert(r->run_id);
            if (c.status == TestStatus::failed || c.status == TestStatus::error) failed_in.insert(r->run_id);
          }
      flaky.push_back({{"stage", results.front().stage},
                       {"key", results.front().key},
                       {"test", id},
                       {"failed_in", failed_in},
                       {"passed_in", passed_in}});
    }
  }
  return json{{"project", project}, {"runs_examined", history.runs}, {"flaky", flaky}};
}

Status print_flaky_tests(cache::Store& store, const std::string& project, int runs, bool as_json, std::ostream& out) {
  json doc = TRY(flaky_tests_json(store, project, runs));
  if (as_json) {
    out << doc.dump(2) << "\n";
    return {};
  }
  if (doc["flaky"].empty()) {
    out << "no flaky tests in the last " << doc["runs_examined"].get<int>() << " runs\n";
    return {};
  }
  for (const auto& f : doc["flaky"])
    out << f["stage"].get<std::string>() << "  " << f["test"].get<std::string>() << "  failed in "
        << f["failed_in"].size() << " run(s), passed in " << f["passed_in"].size() << " (stage key "
        << f["key"].get<std::string>().substr(0, 19) << ")\n";
  return {};
}

}  // namespace gantry::runner
