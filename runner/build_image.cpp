#include "runner/build_image.h"

#include <time.h>

#include <chrono>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cache/layer_unpacker.h"
#include "common/units.h"
#include "runner/build_explain.h"
#include "runner/build_run.h"
#include "runner/build_step.h"

namespace gantry::runner {

using Clock = std::chrono::steady_clock;
using pipeline::StepKind;

namespace {

std::chrono::milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// The final config: the base's, with the build state and the image's
// entrypoint, cmd and labels; history gets one entry per step.
cache::ImageConfig final_config(const BaseImage& base, const pipeline::ImageDef& image,
                                const pipeline::BuildState& state, const std::vector<StepOutcome>& steps,
                                std::int64_t epoch) {
  cache::ImageConfig config = base.config;
  // The only time in the config is the build's epoch, which is in every key
  // (never the commit's or the clock's): a commit that changes nothing the
  // image contains gives the same digest, whatever the store built before.
  const std::string created = format_utc_time(epoch);
  config.created = created;
  config.env = env_lines(state.env);
  config.working_dir = (state.workdir == "/" && base.config.working_dir.empty()) ? "" : state.workdir;
  config.user = state.user;
  if (image.entrypoint) {
    config.entrypoint = *image.entrypoint;
    if (!image.cmd) config.cmd.clear();  // as Docker: a new entrypoint resets the base's cmd
  }
  if (image.cmd) config.cmd = *image.cmd;
  for (const auto& [k, v] : image.labels) config.labels[k] = v;
  for (const auto& step : steps)
    config.history.push_back({.created = created,
                              .created_by = "gantry build: " + step.description,
                              .comment = "",
                              .empty_layer = !step.layer.has_value()});
  return config;
}

// The first line of a step's error, without the "image X, step #N (...)" it starts with.
std::string short_reason(const std::string& message, const std::string& what) {
  std::string line = message.substr(0, message.find('\n'));
  if (line.starts_with(what)) line = line.substr(what.size());
  for (std::string_view lead : {" failed: ", ": "})
    if (line.starts_with(lead)) line = line.substr(lead.size());
  return line;
}

// Version of final_config(): bump it when the config it makes changes.
// 2: the config's `created` and history times are the epoch (in the record).
constexpr int kImageKeyFormat = 2;

Digest image_key_of(const std::string& last_parent, const pipeline::ImageDef& image, std::int64_t epoch) {
  nlohmann::json record = {
      {"format", kImageKeyFormat}, {"parent", last_parent}, {"labels", image.labels}, {"epoch", epoch}};
  record["entrypoint"] = image.entrypoint ? nlohmann::json(*image.entrypoint) : nlohmann::json(nullptr);
  record["cmd"] = image.cmd ? nlohmann::json(*image.cmd) : nlohmann::json(nullptr);
  return cache::typed_digest("gantry image key", record);
}

}  // namespace

Result<BaseImage> load_base(cache::Store& store, const Digest& manifest_digest) {
  auto image = TRY(store.images().load(manifest_digest));
  return BaseImage{cache::parent_of_image(manifest_digest), std::move(image.config), std::move(image.layers)};
}

Result<BaseImage> load_base(cache::Store& store, const std::string& from, const cache::TagScope& scope) {
  if (from == "scratch") return BaseImage{cache::kScratchParent, {}, {}};
  auto digest = store.images().resolve(from, scope);
  if (!digest)
    return fail(ErrorKind::not_found, "base image '" + from + "' is not in the store (" + digest.error().message() +
                                          "); import or pull it first");
  return load_base(store, *digest);
}

std::shared_ptr<std::mutex> KeyLocks::get(const Digest& key) {
  std::lock_guard lock(mutex_);
  auto& slot = locks_[key.hex()];
  if (!slot) slot = std::make_shared<std::mutex>();
  return slot;
}

Result<ImageOutcome> build_one_image(const BuildRequest& req, const pipeline::ImageDef& image,
                                     const BaseImage& base, BuildCounters& counters, KeyLocks& locks) {
  cache::Store& store = req.store;
  cache::Metadata& step_cache = store.metadata();  // the step cache
  const std::int64_t epoch = TRY(build_epoch(req.pipeline));

  ImageOutcome out{.name = image.name, .digest = Digest::of("")};
  // Build history (for --explain) is kept per repository, file and image.
  const std::string history = req.repo.path() + ":" + req.pipeline.file + ":" + image.name;
  std::vector<TaskId> tasks;
  for (std::size_t i = 0; i < image.steps.size(); ++i) {
    tasks.push_back({image.name, "#" + std::to_string(i + 1) + " " + describe_step(image.steps[i])});
    req.reporter.task(tasks.back(), TaskState::queued, {});
  }

  // After a failure, the steps that will not run.
  auto skip_after = [&](std::size_t failed) {
    for (std::size_t j = failed + 1; j < tasks.size(); ++j)
      req.reporter.task(tasks[j], TaskState::skipped, {}, "an earlier step failed");
  };
  // Tells the caller (the run record) how a step ended.
  auto notify = [&](const StepOutcome& outcome, const std::string& status, const std::string& detail) {
    if (!req.on_step) return;
    auto record = build_step_record(image.name, outcome);
    record.status = status;
    record.detail = detail;
    req.on_step(record);
  };
  auto step_failed = [&](StepOutcome& outcome, std::size_t i, Clock::time_point start, const Error& error,
                         const std::string& what) {
    const std::string reason = short_reason(error.message(), what);
    req.reporter.task(tasks[i], TaskState::failed, since(start), reason);
    outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    notify(outcome, "failed", reason);
    skip_after(i);
  };

  pipeline::BuildState state = pipeline::initial_state(
      image, state_from_config(base.config.env, base.config.working_dir, base.config.user));
  std::string parent = base.parent;
  std::vector<cache::LayerDescriptor> layers = base.layers;
  std::vector<Digest> keys;
  bool missed = false;

  const bool stops_here = image.name == req.stop_image && req.at_stop;
  for (std::size_t i = 0; i < image.steps.size(); ++i) {
    if (stops_here && static_cast<int>(i) + 1 == req.stop_before) {
      TRY(req.at_stop(layers, state));
      return out;
    }
    const pipeline::Step& step = image.steps[i];
    const TaskId& task = tasks[i];
    const auto start = Clock::now();
    const std::string what = "image " + image.name + ", step #" + std::to_string(i + 1) + " (" +
                             describe_step(step) + ")";

    StepOutcome outcome{.index = static_cast<int>(i),
                        .kind = std::string(pipeline::to_string(step.kind)),
                        .description = describe_step(step),
                        .key = Digest::of("")};
    std::vector<pipeline::CopyItem> items;
    if (step.kind == StepKind::copy) {
      auto planned = pipeline::plan_copy(req.repo, req.commit, step);
      if (!planned) {
        Error error = std::move(planned).error().context(what);
        step_failed(outcome, i, start, error, what);
        return fail(std::move(error));
      }
      items = std::move(*planned);
    }
    const cache::StepRecord record = step_record(parent, step, state, items, epoch);
    const Digest key = cache::step_key(record);
    keys.push_back(key);
    outcome.key = key;

    // Held until the step is recorded: a parallel image with the same step waits.
    auto key_lock = locks.get(key);
    std::lock_guard hold(*key_lock);
    std::optional<cache::StepCacheEntry> hit;
    bool layer_gone = false;
    if (!req.no_cache) {
      hit = TRY_CTX(step_cache.find_step(key), what);
      if (hit && hit->layer && !store.blobs().has(hit->layer->digest)) {
        layer_gone = true;  // removed behind the cache's back: build it again
        hit.reset();
      }
      if (!hit && req.deferred_cache && !req.dry_run) {
        auto pulled = req.deferred_cache(key);
        if (!pulled)
          spdlog::warn("{}: the shared step cache has this step but its layer could not be fetched, building it: {}",
                       what, pulled.error().message());
        else if (*pulled)
          hit = std::move(*pulled);
      }
    }

    if (hit) {
      counters.cache_hits++;
      state = apply_config_change(std::move(state), hit->config_change);
      if (hit->layer) {
        layers.push_back(*hit->layer);
        outcome.layer = hit->layer->digest;
      }
      outcome.cached = true;
      outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
      req.reporter.task(task, TaskState::cached, since(start), key.short_hex());
      notify(outcome, "passed", "cached");
    } else if (req.cached_only) {
      return fail(ErrorKind::not_found,
                  what + " is no longer in the step cache (" +
                      (layer_gone ? "its layer was removed" : "no step with its key was kept") +
                      "): the state after it cannot be rebuilt without running it");
    } else if (req.dry_run) {
      counters.cache_misses++;
      if (!missed) {
        out.explain = TRY(explain_miss(step_cache, history, image.name, static_cast<int>(i), describe_step(step),
                                       record, key, req.no_cache, layer_gone));
        outcome.would_miss = out.explain.substr(out.explain.find(" missed: ") + 9);
      } else {
        outcome.would_miss = "an earlier step runs (its key follows theirs)";
      }
      missed = true;
      out.would_build = true;
      state = pipeline::apply_step(state, step);
    } else {
      counters.cache_misses++;
      if (req.explain && !missed)
        out.explain = TRY(explain_miss(step_cache, history, image.name, static_cast<int>(i), describe_step(step),
                                       record, key, req.no_cache, layer_gone));
      missed = true;
      req.reporter.task(task, TaskState::running, {});
      std::optional<cache::LayerDescriptor> layer;
      if (step.kind == StepKind::run) {
        if (!req.log_run_id.empty())
          outcome.log_path = store.paths().build_step_log(req.log_run_id, image.name, static_cast<int>(i + 1));
        auto made = run_build_step(store, {.layers = layers, .step = step, .state = state, .epoch = epoch,
                                           .task = task, .what = what, .init_binary = req.init_binary,
                                           .log_path = outcome.log_path,
                                           .limits = req.limits},
                                   req.reporter, counters);
        if (!made) {
          step_failed(outcome, i, start, made.error(), what);
          return fail(std::move(made).error());
        }
        layer = *made;
      } else if (step.kind == StepKind::copy) {
        auto made = write_copy_layer(store, req.repo, items, step, epoch);
        if (!made) {
          Error error = std::move(made).error().context(what);
          step_failed(outcome, i, start, error, what);
          return fail(std::move(error));
        }
        layer = *made;
      }
      if (layer) {
        counters.layers_written++;
        counters.bytes_written += layer->size;
        layers.push_back(*layer);
        outcome.layer = layer->digest;
      }
      const pipeline::BuildState after = pipeline::apply_step(state, step);
      cache::StepCacheEntry entry{.key = key,
                                  .record = record.text(),
                                  .layer = layer,
                                  .config_change = config_change_of(step, state, after),
                                  .image = history,
                                  .step_index = static_cast<int>(i),
                                  .created = static_cast<std::int64_t>(::time(nullptr))};
      TRY_CTX(step_cache.put_step(entry), what);
      state = after;
      outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
      req.reporter.task(task, TaskState::passed, since(start), key.short_hex());
      notify(outcome, "passed", "ran");
    }
    parent = cache::parent_of_step(key);
    out.steps.push_back(std::move(outcome));
  }

  if (stops_here && static_cast<int>(image.steps.size()) + 1 == req.stop_before) {
    TRY(req.at_stop(layers, state));
    return out;
  }
  if (req.dry_run && missed) return out;  // nothing to commit: the digest is not known before the build
  // Everything the final config and layers follow from: the last step key
  // (which chains the base and every step) and the image's own settings.
  const Digest image_key = image_key_of(parent, image, epoch);
  std::optional<Digest> known;
  if (!req.no_cache && !missed) {
    known = TRY_CTX(step_cache.manifest_for_image_key(image_key), "looking up image " + image.name);
    if (known && !store.blobs().has(*known)) known.reset();
  }
  if (known) {
    out.digest = *known;  // the same image, already stored: nothing to write
  } else if (req.dry_run) {
    out.would_build = true;  // every step hits, but the image itself is not stored: it would be committed
    out.explain = image.name + ": every step is cached; the image would be committed again";
    return out;
  } else {
    cache::ImageConfig config = final_config(base, image, state, out.steps, epoch);
    out.digest = TRY_CTX(store.images().commit_image(std::move(config), layers), "committing image " + image.name);
  }
  counters.images_built++;
  for (const auto& layer : layers) out.layers.push_back(layer.digest);
  if (req.dry_run) {
    if (out.explain.empty()) out.explain = image.name + ": every step is cached";
    return out;  // no tags, no build record
  }
  if (req.tag) {
    for (const std::string& tag : {req.commit.short_id, std::string("latest")}) {
      TRY_CTX(store.images().tag(image.name, tag, out.digest, req.project), "tagging " + image.name + ":" + tag);
      out.tags.push_back(image.name + ":" + tag);
    }
  }
  auto last = TRY_CTX(step_cache.image_builds(history, 1), "reading the builds of " + image.name);
  if (last.empty() || last[0].image_key != image_key || last[0].manifest_digest != out.digest)
    TRY_CTX(step_cache.record_image_build({.image = history,
                                     .manifest_digest = out.digest,
                                     .step_keys = keys,
                                     .created = static_cast<std::int64_t>(::time(nullptr)),
                                     .image_key = image_key}),
            "recording the build of " + image.name);
  if (req.explain && !missed) out.explain = image.name + ": every step was cached";
  return out;
}

}  // namespace gantry::runner
