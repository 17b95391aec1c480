// The in-toto Statements (v1) gantry attests, as JSON:
//
//   {"_type": "https://in-toto.io/Statement/v1",
//    "subject": [{"name": "app", "digest": {"sha256": "<manifest hex>"}}],
//    "predicateType": <one of the types below>, "predicate": {...}}
//
// - SLSA Provenance v1 (https://slsa.dev/provenance/v1) for every image a run
//   builds: buildType kBuildType; externalParameters {repository, ref,
//   commit, pipeline: {path, blob}, image}; resolvedDependencies the commit
//   (digest.gitCommit) and the base image (digest.sha256); runDetails.builder
//   {id kBuilderId, version {gantry}}; metadata {invocationId = run id,
//   startedOn, finishedOn}.
// - gantry test result (kTestResultType) for every stage that passed, with
//   every promoted image of the run (and the stage's own image) as subjects:
//   {stage, environment, stageKey, exitCode, log {digest, size}, cached,
//    startedOn, finishedOn, runId, repository, commit}.
// docs/attestations.md documents both field by field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/digest.h"

namespace gantry::attest {

inline constexpr const char* kStatementType = "https://in-toto.io/Statement/v1";
inline constexpr const char* kSlsaProvenanceType = "https://slsa.dev/provenance/v1";
inline constexpr const char* kTestResultType = "https://gantry.dev/attestation/test-result/v1";
inline constexpr const char* kSpdxType = "https://spdx.dev/Document";
inline constexpr const char* kBuildType = "https://gantry.dev/build/v1";
inline constexpr const char* kBuilderId = "https://gantry.dev/runner";
// The annotation of every attestation artifact manifest naming its predicate
// type (so a reader picks attestations without fetching their blobs).
inline constexpr const char* kPredicateTypeAnnotation = "in-toto.io/predicate-type";

// gantry's version, as the builder's version in provenance ("0.1.0").
const char* gantry_version();

struct Subject {
  std::string name;
  Digest digest;
};

struct ProvenanceFacts {
  Subject subject;
  std::string repository;     // the remote URL, else the repository's path
  std::string ref;            // "refs/heads/main" when the revision named a branch (or HEAD on one); "" otherwise
  std::string commit;         // 40 hex
  std::string pipeline_file;  // path in the tree
  std::string pipeline_blob;  // its git blob id
  std::string pipeline_digest;  // sha256:<hex> of its bytes
  std::optional<Subject> base;  // the base image as built from ("" name: scratch: none)
  std::string run_id;
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
};
nlohmann::json provenance_statement(const ProvenanceFacts& f);

struct TestResultFacts {
  std::vector<Subject> subjects;
  std::string stage;
  std::string environment;
  std::string stage_key;  // sha256:<hex>
  int exit_code = 0;
  std::optional<Digest> log_digest;
  std::uint64_t log_size = 0;
  bool cached = false;
  std::string run_id;
  std::string repository;
  std::string commit;
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
};
nlohmann::json test_result_statement(const TestResultFacts& f);

// "2026-11-30T07:01:41Z"
std::string rfc3339(std::int64_t unix_ms);

}  // namespace gantry::attest
