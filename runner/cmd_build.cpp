// gantry build [REPO] [IMAGE...] [--rev R] [--file F] [--no-cache] [--explain]
//              [--json] [--check-reproducible] [--jobs N] [--signing-key FILE]
#include <iostream>
#include <memory>

#include "cache/store.h"
#include "pipeline/git_repo.h"
#include "pipeline/loader.h"
#include "runner/build.h"
#include "runner/cli.h"
#include "runner/deferred_cache.h"
#include "cache/run_lock.h"
#include "runner/project_policy.h"
#include "runner/run_attest.h"
#include "runner/run_session.h"
#include "runner/store_open.h"

namespace gantry::runner {

namespace {

struct BuildOptions {
  std::string repo = ".";
  std::vector<std::string> images;
  std::string rev = "HEAD";
  std::string file = ".gantry.yml";
  bool no_cache = false;
  bool explain = false;
  bool dry_run = false;  // --plan, --explain --dry-run
  bool json = false;
  bool check_reproducible = false;
  int jobs = 2;
  std::string signing_key;  // --signing-key (else $GANTRY_SIGNING_KEY, else the runner config's)
};

// The layers that differ between two builds of the same images, one line each.
std::vector<std::string> compare_builds(const BuildResult& a, const BuildResult& b) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < a.images.size() && i < b.images.size(); ++i) {
    const auto& x = a.images[i];
    const auto& y = b.images[i];
    for (std::size_t s = 0; s < x.steps.size() && s < y.steps.size(); ++s) {
      if (x.steps[s].layer == y.steps[s].layer) continue;
      out.push_back(x.name + ": step #" + std::to_string(s + 1) + " (" + x.steps[s].description +
                    ") made different layers: " + (x.steps[s].layer ? x.steps[s].layer->str() : "none") + " vs " +
                    (y.steps[s].layer ? y.steps[s].layer->str() : "none"));
    }
    if (x.digest != y.digest && out.empty())
      out.push_back(x.name + ": same layers but different image digests: " + x.digest.str() + " vs " +
                    y.digest.str());
  }
  return out;
}

std::string summary_line(const ImageOutcome& image) {
  int cached = 0;
  for (const auto& step : image.steps) cached += step.cached ? 1 : 0;
  std::string tags;
  for (const auto& tag : image.tags) tags += (tags.empty() ? "" : ", ") + tag;
  return image.name + " " + image.digest.str() + (tags.empty() ? "" : " (" + tags + ")") + ": " +
         std::to_string(image.steps.size()) + " steps, " + std::to_string(cached) + " cached";
}

// --plan: every step's hit or miss and why, computed from keys alone (copy
// steps read git objects only); nothing runs, nothing is written.
int print_plan(cache::Store& store, pipeline::GitRepo& repo, const pipeline::Commit& commit,
               const pipeline::Pipeline& pipeline, const std::string& project, const BuildOptions& opt) {
  auto quiet = make_reporter(true);
  BuildRequest request{.store = store,
                       .repo = repo,
                       .commit = commit,
                       .pipeline = pipeline,
                       .images = opt.images,
                       .no_cache = opt.no_cache,
                       .explain = true,
                       .dry_run = true,
                       .reporter = *quiet,
                       .jobs = 1,
                       .project = project};
  auto result = build_images(request);
  quiet->finish();
  if (!result) return report_error(result.error());
  if (opt.json) {
    std::cout << build_result_json(*result, true).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
    return kExitOk;
  }
  std::cout << "plan for " << commit.short_id << " (" << commit.summary << "): nothing is run\n";
  for (const auto& image : result->images) {
    int runs = 0;
    for (const auto& step : image.steps) runs += step.would_miss.empty() ? 0 : 1;
    std::cout << image.name << ": "
              << (runs > 0 ? std::to_string(runs) + " of " + std::to_string(image.steps.size()) + " steps would run"
                           : image.would_build ? "every step hits; the image would be committed again"
                                               : "every step hits: " + image.digest.str())
              << "\n";
    for (const auto& step : image.steps)
      std::cout << "  #" << step.index + 1 << " " << step.description << "  "
                << (step.would_miss.empty() ? "hit" : "miss: " + step.would_miss) << "\n";
  }
  return kExitOk;
}

int run_build(const GlobalOptions& global, const BuildOptions& opt) {
  // The default limits of the run steps' containers.
  auto config = load_runner_config(global.runner_config);
  if (!config) return report_error(config.error());
  auto store = open_store(global, *config);
  if (!store) return report_error(store.error());
  auto repo = pipeline::GitRepo::open(opt.repo, (*store)->paths().git_dir());
  if (!repo) return report_error(repo.error());
  auto commit = repo->resolve(opt.rev);
  if (!commit) return report_error(commit.error());
  auto pipeline = pipeline::load_pipeline_from_git(*repo, *commit, opt.file);
  if (!pipeline) return report_error(pipeline.error());

  // The build tags and `from:` lookups belong to the pipeline's project, as
  // in `gantry run` (a claimed `project:` of another repository is refused).
  auto reporter = make_reporter(opt.json || opt.dry_run);
  const auto access = project_access(*config, repo->location(), repo->remote_url());
  auto project = run_project(**store, *pipeline, *repo, access, *reporter);
  if (!project) return report_error(project.error());
  if (opt.dry_run) {
    reporter->finish();
    return print_plan(**store, *repo, *commit, *pipeline, *project, opt);
  }

  // With a signing key, the built images get signed provenance and an SBOM,
  // as `gantry run` gives them (docs/attestations.md).
  auto signing_key = load_signing_key(opt.signing_key, *config);
  if (!signing_key) return report_error(signing_key.error());
  const std::int64_t started_ms = (*store)->clock().now_ms();

  auto build = [&](bool no_cache) {
    BuildRequest request{.store = **store,
                         .repo = *repo,
                         .commit = *commit,
                         .pipeline = *pipeline,
                         .images = opt.images,
                         .no_cache = no_cache,
                         .explain = opt.explain,
                         .reporter = *reporter,
                         .jobs = opt.jobs,
                         .limits = config->limits,
                         .project = *project};
    request.cache_project = access.project;
    request.deferred_cache = deferred_cache_lookup(**store);
    return build_images(request);
  };

  reporter->phase("build");
  auto result = build(opt.no_cache || opt.check_reproducible);
  if (!result) {
    reporter->finish();
    return report_error(result.error());
  }
  std::vector<std::string> differences;
  if (opt.check_reproducible) {
    reporter->note("check-reproducible: building again with no cache");
    auto again = build(true);
    if (!again) {
      reporter->finish();
      return report_error(again.error());
    }
    differences = compare_builds(*result, *again);
  }

  if (*signing_key) {
    std::map<std::string, Digest> built;
    for (const auto& image : result->images) built.emplace(image.name, image.digest);
    const std::int64_t finished_ms = (*store)->clock().now_ms();
    auto st = attest_build({.store = **store,
                            .repo = *repo,
                            .commit = *commit,
                            .pipeline = *pipeline,
                            .rev = opt.rev,
                            .project = *project,
                            .invocation = "build-" + cache::new_run_id(started_ms),
                            .signing_key = signing_key->get()},
                           built, started_ms, finished_ms);
    if (!st) {
      reporter->finish();
      return report_error(st.error());
    }
    reporter->note("attested " + std::to_string(built.size()) + " image(s): signed provenance and SBOM");
  }
  for (const auto& image : result->images) {
    reporter->note(summary_line(image));
    if (opt.explain && !image.explain.empty()) reporter->note(image.explain);
  }
  if (opt.check_reproducible) {
    if (differences.empty()) reporter->note("reproducible: both builds gave the same layers and digests");
    for (const auto& line : differences) reporter->note("not reproducible: " + line);
  }
  reporter->finish();

  if (opt.json) {
    auto doc = build_result_json(*result, opt.explain);
    if (opt.check_reproducible) doc["reproducible"] = differences.empty();
    doc["attested"] = static_cast<bool>(*signing_key);  // signed provenance and SBOM stored
    std::cout << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  if (!differences.empty()) {
    for (const auto& line : differences) std::cerr << "gantry: not reproducible: " << line << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void add_build_commands(Cli& cli) {
  auto opt = std::make_shared<BuildOptions>();
  auto* cmd = cli.app.add_subcommand(
      "build", "Build the images of a pipeline from a git commit, reusing every cached step.\n"
               "Tags each image NAME:<commit short id> and NAME:latest (docs/build.md).");
  cmd->add_option("repo", opt->repo, "Git repository: a local path (work tree or bare) or a URL (default: .)");
  cmd->add_option("images", opt->images, "Images to build (with the images they are from); default: all");
  cmd->add_option("--rev", opt->rev, "Revision to build (anything git rev-parse takes; default HEAD)");
  cmd->add_option("--file,-f", opt->file, "Pipeline file in the commit's tree (default .gantry.yml)");
  cmd->add_flag("--no-cache", opt->no_cache, "Run every step; results are still recorded in the cache");
  cmd->add_flag("--explain", opt->explain, "For each image, say which step missed first and what changed");
  cmd->add_flag("--plan,--dry-run", opt->dry_run,
                "Say which steps would hit and which would miss and why, without running anything "
                "(no container, no layer, no tag)");
  cmd->add_flag("--json", opt->json, "Print the result as JSON (docs/build.md) instead of a live view");
  cmd->add_flag("--check-reproducible", opt->check_reproducible,
                "Build twice with no cache and report layers that differ (exit 1 if any)");
  cmd->add_option("--jobs,-j", opt->jobs, "Images built at once (default 2)")->check(CLI::PositiveNumber);
  add_signing_key_option(cmd, opt->signing_key);
  cmd->callback([&global = cli.global, &action = cli.action, opt] {
    action = [&global, opt] { return run_build(global, *opt); };
  });
}

}  // namespace gantry::runner
