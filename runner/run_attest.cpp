#include "runner/run_attest.h"

#include <cstdlib>
#include <set>
#include <tuple>

#include "attest/attestations.h"
#include "attest/sbom.h"
#include "attest/statements.h"
#include "cache/image_store.h"
#include "common/file_util.h"
#include "runner/run_session.h"

namespace gantry::runner {

Result<std::shared_ptr<const attest::SigningKey>> load_signing_key(const std::string& flag,
                                                                   const RunnerConfig& config) {
  std::string path = flag, from = "--signing-key";
  if (path.empty()) {
    if (const char* env = std::getenv("GANTRY_SIGNING_KEY"); env && *env) path = env, from = "GANTRY_SIGNING_KEY";
  }
  if (path.empty() && !config.signing_key.empty()) path = config.signing_key, from = "signing_key of " + config.path;
  if (path.empty()) return std::shared_ptr<const attest::SigningKey>();
  auto key = TRY_CTX(attest::SigningKey::load(path), "signing key (" + from + ")");
  if (!key.has_private())
    return fail(ErrorKind::invalid_input, "signing key (" + from + "): " + path +
                                              " is a public key; sign with the private key (gantry.key)");
  return std::make_shared<const attest::SigningKey>(std::move(key));
}

namespace {

std::string repository_of(pipeline::GitRepo& repo) {
  return repo.remote_url().empty() ? repo.location() : repo.remote_url();
}

// The base image an image of the file was built from, as the store resolves
// it now (right after the build that resolved it the same way).
std::optional<attest::Subject> base_of(const BuildSource& src, const pipeline::ImageDef& image,
                                       const std::map<std::string, Digest>& built) {
  if (image.from == "scratch") return std::nullopt;
  if (auto it = built.find(image.from); it != built.end()) return attest::Subject{image.from, it->second};
  auto digest = src.store.images().resolve(image.from, cache::TagScope::of(src.project));
  if (!digest) return std::nullopt;
  return attest::Subject{image.from, *digest};
}

}  // namespace

Status attest_build(const BuildSource& src, const std::map<std::string, Digest>& built, std::int64_t started_ms,
                    std::int64_t finished_ms) {
  std::string blob;
  if (auto entries = src.repo.list(src.commit, src.pipeline.file); entries && entries->size() == 1)
    blob = entries->front().oid;
  const std::string ref = src.repo.branch_ref(src.rev, src.commit.id);
  for (const auto& [name, digest] : built) {
    const pipeline::ImageDef* def = src.pipeline.find_image(name);
    attest::ProvenanceFacts f{.subject = {name, digest},
                              .repository = repository_of(src.repo),
                              .ref = ref,
                              .commit = src.commit.id,
                              .pipeline_file = src.pipeline.file,
                              .pipeline_blob = blob,
                              .pipeline_digest = src.pipeline.digest,
                              .base = def ? base_of(src, *def, built) : std::nullopt,
                              .run_id = src.invocation,
                              .started_ms = started_ms,
                              .finished_ms = finished_ms};
    TRY_CTX(attest::attach_statement(src.store, digest, attest::provenance_statement(f), src.signing_key, finished_ms),
            "provenance of " + name);
    // The SBOM: dpkg's packages for a Debian base, else every file's digest
    // (once per digest: the same digest has the same files).
    bool has_sbom = false;
    for (const auto& r : TRY(cache::ReferrerStore(src.store).list(digest))) {
      auto it = r.annotations.find(attest::kPredicateTypeAnnotation);
      has_sbom = has_sbom || (it != r.annotations.end() && it->second == attest::kSpdxType);
    }
    if (has_sbom) continue;
    auto image = TRY_CTX(src.store.images().load(digest), "sbom of " + name);
    auto layers = TRY_CTX(src.store.images().lowerdirs(image), "sbom of " + name);
    auto sbom = TRY_CTX(attest::sbom_statement({name, digest}, layers, finished_ms), "sbom of " + name);
    TRY_CTX(attest::attach_statement(src.store, digest, sbom, src.signing_key, finished_ms), "sbom of " + name);
  }
  return {};
}

Status attest_built_images(RunContext& ctx, const std::map<std::string, Digest>& built, std::int64_t started_ms,
                           std::int64_t finished_ms) {
  return attest_build({.store = ctx.store,
                       .repo = ctx.repo,
                       .commit = ctx.commit,
                       .pipeline = ctx.pipeline,
                       .rev = ctx.rev,
                       .project = ctx.project,
                       .invocation = ctx.run_id,
                       .signing_key = ctx.signing_key.get()},
                      built, started_ms, finished_ms);
}

Status attest_passed_stages(RunContext& ctx, const std::string& environment) {
  std::vector<cache::StageResult> passed;
  {
    std::lock_guard lock(ctx.mutex);
    for (const auto& [name, r] : ctx.results)
      if (r.environment == environment && r.status == cache::StageStatus::passed &&
          ctx.attested_stages.insert(name).second)
        passed.push_back(r);
  }
  const auto promoted = promoted_images(ctx.pipeline);
  for (const auto& r : passed) {
    // Every promoted image of the run (what a `passed:` rule asks about) and
    // the image the stage ran on.
    std::vector<attest::Subject> list;
    std::set<std::string> seen;
    auto add = [&](const std::string& name) {
      auto it = ctx.images.find(name);
      if (it != ctx.images.end() && seen.insert(it->second.digest.str()).second) list.push_back({name, it->second.digest});
    };
    add(r.image);
    for (const auto& name : promoted) add(name);
    if (list.empty()) continue;
    attest::TestResultFacts f{.subjects = list,
                              .stage = r.stage,
                              .environment = r.environment,
                              .stage_key = r.cache_key,
                              .exit_code = r.exit_code < 0 ? 0 : r.exit_code,
                              .log_digest = std::nullopt,
                              .log_size = 0,
                              .cached = r.cached,
                              .run_id = ctx.run_id,
                              .repository = repository_of(ctx.repo),
                              .commit = ctx.commit.id,
                              .started_ms = r.started_ms,
                              .finished_ms = r.started_ms + r.duration_ms};
    if (!r.log_path.empty()) {
      if (auto d = digest_file(r.log_path)) {
        f.log_digest = *d;
        if (auto text = read_file(r.log_path)) f.log_size = text->size();
      }
    }
    const auto statement = attest::test_result_statement(f);
    for (const auto& s : list)
      TRY_CTX(attest::attach_statement(ctx.store, s.digest, statement, ctx.signing_key.get(), ctx.store.clock().now_ms()),
              "test result of stage " + r.stage);
  }
  return {};
}

Result<attest::Requirement> requirement_for(const pipeline::EnvironmentDef& env, const ProjectAccess& access,
                                            const RunnerConfig& config) {
  attest::Requirement req;
  std::vector<std::string> names;
  auto merge = [&](const std::vector<std::string>& signed_by, const std::optional<std::string>& repository,
                   const std::optional<std::string>& branch, const std::vector<std::string>& passed,
                   const std::string& origin) -> Status {
    for (const auto& n : signed_by) names.push_back(n);
    for (const auto& [have, want, what] :
         {std::tuple{&req.repository, &repository, "provenance.repository"}, std::tuple{&req.branch, &branch, "provenance.branch"}}) {
      if (!*want) continue;
      if (*have && **have != **want)
        return fail(ErrorKind::conflict, std::string(what) + " of environment " + env.name + " is '" + **have +
                                             "' in one rule and '" + **want + "' in " + origin +
                                             ": no digest can meet both");
      *have = *want;
    }
    for (const auto& s : passed) req.passed.push_back(s);
    return {};
  };
  if (env.require)
    TRY(merge(env.require->signed_by, env.require->repository, env.require->branch, env.require->passed,
              "the pipeline's require:"));
  if (auto it = access.policy.require.find(env.name); it != access.policy.require.end())
    TRY(merge(it->second.signed_by, it->second.repository, it->second.branch, it->second.passed,
              "the runner config's require." + env.name));
  std::set<std::string> seen;
  for (const auto& name : names) {
    if (!seen.insert(name).second) continue;
    std::string path;
    if (auto k = access.policy.keys.find(name); k != access.policy.keys.end()) path = k->second;
    else if (!config.key_dir().empty() && name.find("..") == std::string::npos && !name.starts_with("/"))
      path = config.key_dir() + "/" + name;
    else
      return fail(ErrorKind::invalid_input,
                  "require.signed_by of environment " + env.name + ": key '" + name +
                      "' is not in the runner config's keys: and there is no runner config to find it beside "
                      "(key files come from the runner's configuration, never from the repository)");
    auto key = TRY_CTX(attest::SigningKey::load(path), "require.signed_by of environment " + env.name + ": key '" + name + "'");
    if (key.has_private())
      return fail(ErrorKind::invalid_input, "require.signed_by of environment " + env.name + ": key '" + name + "' (" +
                                                path + ") is a private key; name the public key (gantry.pub)");
    req.signed_by.push_back(std::move(key));
    req.key_names.push_back(name);
  }
  return req;
}

Status check_promotion(cache::Store& store, const pipeline::EnvironmentDef& env, const ProjectAccess& access,
                       const RunnerConfig& config, const std::string& image, const Digest& digest) {
  auto req = TRY(requirement_for(env, access, config));
  if (req.empty()) return {};
  auto attestations = TRY(attest::load_attestations(store, digest, req.signed_by));
  auto verdict = attest::check_requirement(attestations, req);
  if (verdict.ok) return {};
  return fail(ErrorKind::conflict, "refusing to promote " + image + " " + digest.str() + " to " + env.name +
                                       ": rule require." + verdict.rule + " failed: " + verdict.detail);
}

Status record_refusal(RunContext& ctx, const std::string& environment, const std::string& image,
                      const std::string& digest, Error refusal) {
  cache::Metadata& meta = ctx.store.metadata();
  TRY(meta.record_gate(ctx.run_id,
                       {.environment = environment, .how = cache::GateOutcome::refused, .detail = refusal.message()}));
  TRY(meta.refuse({.project = ctx.project,
                   .image = image,
                   .environment = environment,
                   .digest = digest,
                   .commit = ctx.commit.id,
                   .run_id = ctx.run_id},
                  refusal.message()));
  return fail(std::move(refusal));
}

}  // namespace gantry::runner
