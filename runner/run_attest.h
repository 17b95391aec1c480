// A run's attestations (attest/): SLSA provenance for every image it built,
// a test-result statement for every stage that passed, signed with the
// runner's signing key; and the `require:` check before every promotion.
//
// The signing key: --signing-key FILE, else $GANTRY_SIGNING_KEY, else the
// runner config's signing_key (none: attestations are stored unsigned, and
// no `signed_by` rule can be met by them).
//
// The rule of an environment is its pipeline's `require:` and the runner
// config's `projects.<p>.require.<environment>` together (both must hold: a
// commit can add requirements, never drop the runner's). Key names resolve
// through the runner config only: `keys:` of the project, else a path
// below the runner config's directory, so a repository never picks its own
// trust root (docs/security.md).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "attest/policy.h"
#include "attest/signing_key.h"
#include "common/digest.h"
#include "pipeline/pipeline.h"
#include "runner/run_context.h"
#include "runner/runner_config.h"

namespace gantry::runner {

// nullptr when no key is configured; an error for a named key that cannot
// be read or is not a P-256 private key.
Result<std::shared_ptr<const attest::SigningKey>> load_signing_key(const std::string& flag,
                                                                   const RunnerConfig& config);

// What a build's provenance names: the repository, commit and pipeline file
// the images were built from (`gantry run` and `gantry build` alike).
struct BuildSource {
  cache::Store& store;
  pipeline::GitRepo& repo;
  const pipeline::Commit& commit;
  const pipeline::Pipeline& pipeline;
  std::string rev;         // as given (names the branch ref when it is one)
  std::string project;     // whose tags resolve `from:`
  std::string invocation;  // the run's id, or the build's
  const attest::SigningKey* signing_key = nullptr;  // nullptr: stored unsigned
};

// SLSA provenance and an SBOM of each built image (name -> manifest digest),
// as OCI referrers of the image: its digest never changes.
Status attest_build(const BuildSource& source, const std::map<std::string, Digest>& built, std::int64_t started_ms,
                    std::int64_t finished_ms);
// attest_build() of a run's images.
Status attest_built_images(RunContext& ctx, const std::map<std::string, Digest>& built, std::int64_t started_ms,
                           std::int64_t finished_ms);

// Test results of the stages of `environment` that passed in this run and
// are not attested yet.
Status attest_passed_stages(RunContext& ctx, const std::string& environment);

// The combined rule of `env` for this project; empty when neither the
// pipeline nor the runner config has one.
Result<attest::Requirement> requirement_for(const pipeline::EnvironmentDef& env, const ProjectAccess& access,
                                            const RunnerConfig& config);
// Refuses (conflict, naming the rule) a digest whose attestations do not meet
// `env`'s rule; nothing when the environment has none. A run records the
// refusal with record_refusal(): its gate of the environment is "refused"
// with the message (gantry show), the promotion history gets a "refused"
// event of the digest (gantry history, the server's /history and /events),
// then the run fails with it. No pointer moves.
Status check_promotion(cache::Store& store, const pipeline::EnvironmentDef& env, const ProjectAccess& access,
                       const RunnerConfig& config, const std::string& image, const Digest& digest);
Status record_refusal(RunContext& ctx, const std::string& environment, const std::string& image,
                      const std::string& digest, Error refusal);

}  // namespace gantry::runner
