// build_images(): which images, in which order, how many at once.
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "pipeline/dag.h"
#include "pipeline/loader.h"
#include "runner/build.h"
#include "runner/build_image.h"
#include "runner/build_step.h"
#include "runner/registry_refs.h"
#include "registry/reference.h"

namespace gantry::runner {

namespace {

// The requested images and, transitively, the images of the file they are from.
Result<std::set<std::string>> select_images(const pipeline::Pipeline& p, const std::vector<std::string>& names) {
  std::set<std::string> wanted;
  std::vector<std::string> todo = names;
  if (todo.empty())
    for (const auto& image : p.images) todo.push_back(image.name);
  for (const auto& name : todo) {
    if (p.find_image(name)) continue;
    std::string known;
    for (const auto& image : p.images) known += (known.empty() ? "" : ", ") + image.name;
    return fail(ErrorKind::not_found, "no image '" + name + "' in " + p.file + " (its images: " +
                                          (known.empty() ? "none" : known) + ")");
  }
  while (!todo.empty()) {
    std::string name = todo.back();
    todo.pop_back();
    if (!wanted.insert(name).second) continue;
    const auto* image = p.find_image(name);
    if (image && p.find_image(image->from)) todo.push_back(image->from);
  }
  return wanted;
}

// Every `from` of the selected images names scratch, an image of the file, an
// image in the store or a registry image (pulled now when the store lacks
// it): reported together, with file:line:col.
Status check_bases(RegistryRefs& refs, const pipeline::Pipeline& p, const std::set<std::string>& wanted) {
  std::set<std::string> wanted_froms;
  for (const auto& name : wanted) wanted_froms.insert(p.find_image(name)->from);
  auto diagnostics = pipeline::validate_refs(p, [&](const std::string& ref) {
    // Registry references the build does not need (stage images, bases of
    // images not built) are not pulled here; their diagnostics are dropped below.
    if (!wanted_froms.contains(ref) && registry::names_registry_host(ref)) return true;
    return refs.exists(ref);
  });
  diagnostics = refs.explain(p, diagnostics);
  pipeline::Diagnostics relevant;
  for (const auto& d : diagnostics.items())
    for (const auto& name : wanted)
      if (d.key.starts_with("images." + name + ".")) {
        relevant.add(d);
        break;
      }
  if (!relevant.empty()) return fail(relevant.to_error());
  return {};
}

// A dry run of an image whose base (an image of the file) would be rebuilt:
// every step's key follows the base's digest, unknown until it is built.
ImageOutcome planned_after_rebuilt_base(const pipeline::ImageDef& image) {
  ImageOutcome out{.name = image.name, .digest = Digest::of("")};
  out.would_build = true;
  out.explain = image.name + ": its base image " + image.from + " would be rebuilt, so every step runs";
  for (std::size_t i = 0; i < image.steps.size(); ++i)
    out.steps.push_back({.index = static_cast<int>(i),
                         .kind = std::string(pipeline::to_string(image.steps[i].kind)),
                         .description = describe_step(image.steps[i]),
                         .key = Digest::of(""),
                         .would_miss = "its base image " + image.from + " would be rebuilt"});
  return out;
}

}  // namespace

nlohmann::json BuildCounters::to_json() const {
  return {{"containers_started", containers_started.load()}, {"layers_written", layers_written.load()},
          {"cache_hits", cache_hits.load()},                 {"cache_misses", cache_misses.load()},
          {"bytes_written", bytes_written.load()},           {"images_built", images_built.load()}};
}

Result<BuildResult> build_images(const BuildRequest& req) {
  BuildCounters local;
  BuildCounters& counters = req.counters ? *req.counters : local;
  const pipeline::Pipeline& p = req.pipeline;

  const auto wanted = TRY(select_images(p, req.images));
  RegistryRefs refs(req.store, &req.reporter, cache::TagScope::of(req.project));
  TRY(check_bases(refs, p, wanted));
  const auto order = TRY(pipeline::image_order(p));

  std::mutex mutex;
  std::map<std::string, ImageOutcome> done;
  KeyLocks key_locks;
  auto build_named = [&](const std::string& name) -> Result<ImageOutcome> {
    const pipeline::ImageDef& image = *p.find_image(name);
    if (req.dry_run && p.find_image(image.from)) {
      std::lock_guard lock(mutex);
      if (done.at(image.from).would_build) {
        counters.cache_misses += image.steps.size();
        return planned_after_rebuilt_base(image);
      }
    }
    Result<BaseImage> base = [&]() -> Result<BaseImage> {
      if (registry::names_registry_host(image.from) && !p.find_image(image.from))
        return load_base(req.store, TRY(refs.ensure(image.from)));  // pulled by check_bases
      if (!p.find_image(image.from)) return load_base(req.store, image.from, cache::TagScope::of(req.project));
      std::lock_guard lock(mutex);
      return load_base(req.store, done.at(image.from).digest);
    }();
    if (!base) return fail(std::move(base).error().context("building " + name));
    return build_one_image(req, image, *base, counters, key_locks);
  };

  const std::size_t jobs = static_cast<std::size_t>(std::max(1, req.jobs));
  for (const auto& level : order.levels) {
    std::vector<std::string> todo;
    for (const auto& name : level)
      if (wanted.contains(name)) todo.push_back(name);
    for (std::size_t first = 0; first < todo.size(); first += jobs) {
      const std::size_t count = std::min(jobs, todo.size() - first);
      std::vector<std::optional<Result<ImageOutcome>>> results(count);
      if (count == 1) {
        results[0] = build_named(todo[first]);
      } else {
        std::vector<std::jthread> threads;
        for (std::size_t i = 0; i < count; ++i)
          threads.emplace_back([&, i] {
            try {
              results[i] = build_named(todo[first + i]);
            } catch (const std::exception& e) {
              results[i] = fail(ErrorKind::internal, "building " + todo[first + i] + ": " + e.what());
            }
          });
      }  // threads joined here
      for (std::size_t i = 0; i < count; ++i) {
        if (!*results[i]) return fail(std::move(*results[i]).error());
        std::lock_guard lock(mutex);
        done.emplace(todo[first + i], std::move(**results[i]));
      }
    }
  }

  BuildResult result;
  for (const auto& name : order.order)
    if (auto it = done.find(name); it != done.end()) result.images.push_back(std::move(it->second));
  result.counters = counters.to_json();
  result.dry_run = req.dry_run;
  return result;
}

cache::BuildStepRecord build_step_record(const std::string& image, const StepOutcome& step) {
  return {.image = image,
          .index = step.index + 1,
          .kind = step.kind,
          .step = step.description,
          .key = step.key.str(),
          .status = cache::StepStatus::passed,
          .cached = step.cached,
          .duration_ms = static_cast<std::int64_t>(step.seconds * 1000.0 + 0.5),
          .log_path = step.log_path,
          .detail = ""};
}

nlohmann::json build_step_json(const cache::BuildStepRecord& step) {
  return {{"index", step.index},
          {"kind", step.kind},
          {"description", step.step},
          {"key", step.key},
          {"cached", step.cached},
          {"seconds", static_cast<double>(step.duration_ms) / 1000.0},
          {"status", step.status},
          {"log", step.log_path},
          {"detail", step.detail}};
}

nlohmann::json build_result_json(const BuildResult& result, bool with_explain) {
  nlohmann::json images = nlohmann::json::array();
  for (const auto& image : result.images) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& step : image.steps) {
      auto j = build_step_json(build_step_record(image.name, step));
      j["seconds"] = step.seconds;  // unrounded, as before
      if (result.dry_run) {
        j["would_run"] = !step.would_miss.empty();
        j["why"] = step.would_miss;
        j["status"] = step.would_miss.empty() ? "hit" : "miss";
        j["detail"] = step.would_miss;
      }
      steps.push_back(std::move(j));
    }
    nlohmann::json j = {{"name", image.name}, {"digest", image.digest.str()}, {"tags", image.tags},
                        {"steps", std::move(steps)}};
    if (result.dry_run) {
      j["would_build"] = image.would_build;
      if (image.would_build) j["digest"] = nullptr;
    }
    if (with_explain) j["explain"] = image.explain;
    images.push_back(std::move(j));
  }
  return {{"images", std::move(images)}, {"counters", result.counters}};
}

}  // namespace gantry::runner
