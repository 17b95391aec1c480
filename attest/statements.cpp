#include "attest/statements.h"

#include <ctime>

namespace gantry::attest {

using nlohmann::json;

const char* gantry_version() { return GANTRY_VERSION; }

std::string rfc3339(std::int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

json subject_json(const Subject& s) { return {{"name", s.name}, {"digest", {{"sha256", s.digest.hex()}}}}; }

json statement(json subjects, const char* predicate_type, json predicate) {
  return {{"_type", kStatementType},
          {"subject", std::move(subjects)},
          {"predicateType", predicate_type},
          {"predicate", std::move(predicate)}};
}

// A git URI as SLSA writes one: "git+<url>@<ref>" (the ref when known).
std::string git_uri(const std::string& repository, const std::string& ref) {
  std::string uri = repository.find("://") != std::string::npos ? "git+" + repository : "git+file://" + repository;
  if (!ref.empty()) uri += "@" + ref;
  return uri;
}

}  // namespace

json provenance_statement(const ProvenanceFacts& f) {
  json external = {{"repository", f.repository},
                   {"ref", f.ref},
                   {"commit", f.commit},
                   {"pipeline", {{"path", f.pipeline_file}, {"blob", f.pipeline_blob}, {"digest", f.pipeline_digest}}},
                   {"image", f.subject.name}};
  json deps = json::array();
  deps.push_back({{"uri", git_uri(f.repository, f.ref)}, {"digest", {{"gitCommit", f.commit}}}});
  if (f.base) deps.push_back({{"name", f.base->name}, {"digest", {{"sha256", f.base->digest.hex()}}}});
  json predicate = {
      {"buildDefinition",
       {{"buildType", kBuildType},
        {"externalParameters", external},
        {"internalParameters", json::object()},
        {"resolvedDependencies", deps}}},
      {"runDetails",
       {{"builder", {{"id", kBuilderId}, {"version", {{"gantry", gantry_version()}}}}},
        {"metadata",
         {{"invocationId", f.run_id}, {"startedOn", rfc3339(f.started_ms)}, {"finishedOn", rfc3339(f.finished_ms)}}}}},
  };
  return statement(json::array({subject_json(f.subject)}), kSlsaProvenanceType, std::move(predicate));
}

json test_result_statement(const TestResultFacts& f) {
  json subjects = json::array();
  for (const auto& s : f.subjects) subjects.push_back(subject_json(s));
  json log = nullptr;
  if (f.log_digest) log = {{"digest", {{"sha256", f.log_digest->hex()}}}, {"size", f.log_size}};
  json predicate = {{"stage", f.stage},
                    {"environment", f.environment},
                    {"stageKey", f.stage_key},
                    {"exitCode", f.exit_code},
                    {"result", f.exit_code == 0 ? "PASSED" : "FAILED"},
                    {"log", log},
                    {"cached", f.cached},
                    {"runId", f.run_id},
                    {"repository", f.repository},
                    {"commit", f.commit},
                    {"startedOn", rfc3339(f.started_ms)},
                    {"finishedOn", rfc3339(f.finished_ms)}};
  return statement(std::move(subjects), kTestResultType, std::move(predicate));
}

}  // namespace gantry::attest
