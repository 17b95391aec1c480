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

using pipeline::StepKind;

namespace {

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

namespace {

// One step being built: what the phases of ImageBuild::build_step() share.
struct StepWork {
  std::size_t index;
  const pipeline::Step& step;
  std::string what;  // "image app, step #3 (run: make)" for errors
  Clock::Steady start;  // of the store's clock
  StepOutcome outcome;
  std::vector<pipeline::CopyItem> items;  // a copy step's sources
  cache::StepRecord record;
  Digest key;
  bool layer_gone = false;  // the cache had the step but its layer was removed
};

// One image, as a linear list of named phases (run()): queue its steps;
// for each, key it and then reuse a hit, plan a miss (dry run) or run it;
// then commit, tag and record the image.
class ImageBuild {
 public:
  ImageBuild(const BuildRequest& req, const pipeline::ImageDef& image, const BaseImage& base, BuildCounters& counters,
             KeyLocks& locks, std::int64_t epoch)
      : req_(req), image_(image), base_(base), counters_(counters), locks_(locks), epoch_(epoch),
        step_cache_(req.store.metadata()), out_{.name = image.name, .digest = Digest::of("")},
        history_(req.repo.path() + ":" + req.pipeline.file + ":" + image.name),
        state_(pipeline::initial_state(image, state_from_config(base.config.env, base.config.working_dir,
                                                                base.config.user))),
        parent_(base.parent), layers_(base.layers), stops_here_(image.name == req.stop_image && req.at_stop) {}

  Result<ImageOutcome> run() {
    queue_tasks();
    for (std::size_t i = 0; i < image_.steps.size(); ++i) {
      if (stops_here_ && static_cast<int>(i) + 1 == req_.stop_before) {
        TRY(req_.at_stop(layers_, state_));
        return out_;
      }
      TRY(build_step(i));
    }
    if (stops_here_ && static_cast<int>(image_.steps.size()) + 1 == req_.stop_before) {
      TRY(req_.at_stop(layers_, state_));
      return out_;
    }
    if (req_.dry_run && missed_) return out_;  // nothing to commit: the digest is not known before the build
    return commit();
  }

 private:
  void queue_tasks() {
    for (std::size_t i = 0; i < image_.steps.size(); ++i) {
      tasks_.push_back({image_.name, "#" + std::to_string(i + 1) + " " + describe_step(image_.steps[i])});
      req_.reporter.task(tasks_.back(), TaskState::queued, {});
    }
  }

  // Tells the caller (the run record) how a step ended.
  void notify(const StepOutcome& outcome, cache::StepStatus status, const std::string& detail) {
    if (!req_.on_step) return;
    auto record = build_step_record(image_.name, outcome);
    record.status = status;
    record.detail = detail;
    req_.on_step(record);
  }

  // Reports the step failed and the steps after it skipped; returns the error.
  Error step_failed(StepWork& w, Error error) {
    const std::string reason = short_reason(error.message(), w.what);
    req_.reporter.task(tasks_[w.index], TaskState::failed, clock_.since(w.start), reason);
    w.outcome.seconds = std::chrono::duration<double>(clock_.steady_now() - w.start).count();
    notify(w.outcome, cache::StepStatus::failed, reason);
    for (std::size_t j = w.index + 1; j < tasks_.size(); ++j)
      req_.reporter.task(tasks_[j], TaskState::skipped, {}, "an earlier step failed");
    return error;
  }

  Status build_step(std::size_t i) {
    const pipeline::Step& step = image_.steps[i];
    StepWork w{.index = i,
               .step = step,
               .what = "image " + image_.name + ", step #" + std::to_string(i + 1) + " (" + describe_step(step) + ")",
               .start = clock_.steady_now(),
               .outcome = {.index = static_cast<int>(i),
                           .kind = std::string(pipeline::to_string(step.kind)),
                           .description = describe_step(step),
                           .key = Digest::of("")},
               .items = {},
               .record = {},
               .key = Digest::of("")};
    if (step.kind == StepKind::copy) {
      auto planned = pipeline::plan_copy(req_.repo, req_.commit, step);
      if (!planned) return fail(step_failed(w, std::move(planned).error().context(w.what)));
      w.items = std::move(*planned);
    }
    w.record = step_record(parent_, step, state_, w.items, epoch_);
    w.key = cache::step_key(w.record);
    keys_.push_back(w.key);
    w.outcome.key = w.key;

    // Held until the step is recorded: a parallel image with the same step waits.
    auto key_lock = locks_.get(w.key);
    std::lock_guard hold(*key_lock);
    auto hit = TRY(look_up(w));
    if (hit) {
      use_hit(w, *hit);
    } else if (req_.cached_only) {
      return fail(ErrorKind::not_found,
                  w.what + " is no longer in the step cache (" +
                      (w.layer_gone ? "its layer was removed" : "no step with its key was kept") +
                      "): the state after it cannot be rebuilt without running it");
    } else if (req_.dry_run) {
      TRY(plan_miss(w));
    } else {
      TRY(run_miss(w));
    }
    parent_ = cache::parent_of_step(w.key);
    out_.steps.push_back(std::move(w.outcome));
    return {};
  }

  // The step cache's entry for the key (its layer still stored), else the
  // shared cache's, else none.
  Result<std::optional<cache::StepCacheEntry>> look_up(StepWork& w) {
    std::optional<cache::StepCacheEntry> hit;
    if (req_.no_cache) return hit;
    hit = TRY_CTX(step_cache_.find_step(w.key), w.what);
    if (hit && hit->layer && !req_.store.blobs().has(hit->layer->digest)) {
      w.layer_gone = true;  // removed behind the cache's back: build it again
      hit.reset();
    }
    if (!hit && req_.deferred_cache && !req_.dry_run) {
      auto pulled = req_.deferred_cache(w.key);
      if (!pulled)
        spdlog::warn("{}: the shared step cache has this step but its layer could not be fetched, building it: {}",
                     w.what, pulled.error().message());
      else if (*pulled)
        hit = std::move(*pulled);
    }
    return hit;
  }

  void use_hit(StepWork& w, const cache::StepCacheEntry& hit) {
    counters_.cache_hits++;
    state_ = apply_config_change(std::move(state_), hit.config_change);
    if (hit.layer) {
      layers_.push_back(*hit.layer);
      w.outcome.layer = hit.layer->digest;
    }
    w.outcome.cached = true;
    w.outcome.seconds = std::chrono::duration<double>(clock_.steady_now() - w.start).count();
    req_.reporter.task(tasks_[w.index], TaskState::cached, clock_.since(w.start), w.key.short_hex());
    notify(w.outcome, cache::StepStatus::passed, "cached");
  }

  Result<std::string> explain(const StepWork& w) {
    return explain_miss(step_cache_, history_, image_.name, static_cast<int>(w.index), describe_step(w.step), w.record,
                        w.key, req_.no_cache, w.layer_gone);
  }

  // A dry run: why the step would run; the state goes on as if it had.
  Status plan_miss(StepWork& w) {
    counters_.cache_misses++;
    if (!missed_) {
      out_.explain = TRY(explain(w));
      w.outcome.would_miss = out_.explain.substr(out_.explain.find(" missed: ") + 9);
    } else {
      w.outcome.would_miss = "an earlier step runs (its key follows theirs)";
    }
    missed_ = true;
    out_.would_build = true;
    state_ = pipeline::apply_step(state_, w.step);
    return {};
  }

  // The step's layer: a run step's container upper, a copy step's git
  // objects; none for a config-only step.
  Result<std::optional<cache::LayerDescriptor>> make_layer(StepWork& w) {
    if (w.step.kind == StepKind::run) {
      if (!req_.log_run_id.empty())
        w.outcome.log_path =
            req_.store.paths().build_step_log(req_.log_run_id, image_.name, static_cast<int>(w.index + 1));
      auto made = run_build_step(req_.store,
                                 {.layers = layers_, .step = w.step, .state = state_, .epoch = epoch_,
                                  .task = tasks_[w.index], .what = w.what, .init_binary = req_.init_binary,
                                  .log_path = w.outcome.log_path, .limits = req_.limits, .launcher = *req_.launcher,
                                  .cache_project = req_.cache_project},
                                 req_.reporter, counters_);
      if (!made) return fail(step_failed(w, std::move(made).error()));
      return *made;
    }
    if (w.step.kind == StepKind::copy) {
      auto made = write_copy_layer(req_.store, req_.repo, w.items, w.step, epoch_);
      if (!made) return fail(step_failed(w, std::move(made).error().context(w.what)));
      return *made;
    }
    return std::nullopt;
  }

  // Runs the step and records it in the step cache.
  Status run_miss(StepWork& w) {
    counters_.cache_misses++;
    if (req_.explain && !missed_) out_.explain = TRY(explain(w));
    missed_ = true;
    req_.reporter.task(tasks_[w.index], TaskState::running, {});
    const std::optional<cache::LayerDescriptor> layer = TRY(make_layer(w));
    if (layer) {
      counters_.layers_written++;
      counters_.bytes_written += layer->size;
      layers_.push_back(*layer);
      w.outcome.layer = layer->digest;
    }
    const pipeline::BuildState after = pipeline::apply_step(state_, w.step);
    cache::StepCacheEntry entry{.key = w.key,
                                .record = w.record.text(),
                                .layer = layer,
                                .config_change = config_change_of(w.step, state_, after),
                                .image = history_,
                                .step_index = static_cast<int>(w.index),
                                .created = clock_.now_seconds()};
    TRY_CTX(step_cache_.put_step(entry), w.what);
    state_ = after;
    w.outcome.seconds = std::chrono::duration<double>(clock_.steady_now() - w.start).count();
    req_.reporter.task(tasks_[w.index], TaskState::passed, clock_.since(w.start), w.key.short_hex());
    notify(w.outcome, cache::StepStatus::passed, "ran");
    return {};
  }

  // The image itself: found by its image key, else committed; then tagged
  // and recorded as a build of its history.
  Result<ImageOutcome> commit() {
    cache::Store& store = req_.store;
    // Everything the final config and layers follow from: the last step key
    // (which chains the base and every step) and the image's own settings.
    const Digest image_key = image_key_of(parent_, image_, epoch_);
    std::optional<Digest> known;
    if (!req_.no_cache && !missed_) {
      known = TRY_CTX(step_cache_.manifest_for_image_key(image_key), "looking up image " + image_.name);
      if (known && !store.blobs().has(*known)) known.reset();
    }
    if (known) {
      out_.digest = *known;  // the same image, already stored: nothing to write
    } else if (req_.dry_run) {
      out_.would_build = true;  // every step hits, but the image itself is not stored: it would be committed
      out_.explain = image_.name + ": every step is cached; the image would be committed again";
      return out_;
    } else {
      cache::ImageConfig config = final_config(base_, image_, state_, out_.steps, epoch_);
      out_.digest = TRY_CTX(store.images().commit_image(std::move(config), layers_), "committing image " + image_.name);
    }
    counters_.images_built++;
    for (const auto& layer : layers_) out_.layers.push_back(layer.digest);
    if (req_.dry_run) {
      if (out_.explain.empty()) out_.explain = image_.name + ": every step is cached";
      return out_;  // no tags, no build record
    }
    if (req_.tag) {
      for (const std::string& tag : {req_.commit.short_id, std::string("latest")}) {
        TRY_CTX(store.images().tag(image_.name, tag, out_.digest, req_.project), "tagging " + image_.name + ":" + tag);
        out_.tags.push_back(image_.name + ":" + tag);
      }
    }
    auto last = TRY_CTX(step_cache_.image_builds(history_, 1), "reading the builds of " + image_.name);
    if (last.empty() || last[0].image_key != image_key || last[0].manifest_digest != out_.digest)
      TRY_CTX(step_cache_.record_image_build({.image = history_,
                                        .manifest_digest = out_.digest,
                                        .step_keys = keys_,
                                        .created = clock_.now_seconds(),
                                        .image_key = image_key}),
              "recording the build of " + image_.name);
    if (req_.explain && !missed_) out_.explain = image_.name + ": every step was cached";
    return out_;
  }

  const BuildRequest& req_;
  const Clock& clock_ = req_.store.clock();  // step times, cache entries' ages (common/clock.h)
  const pipeline::ImageDef& image_;
  const BaseImage& base_;
  BuildCounters& counters_;
  KeyLocks& locks_;
  const std::int64_t epoch_;
  cache::Metadata& step_cache_;  // the step cache
  ImageOutcome out_;
  // Build history (for --explain) is kept per repository, file and image.
  const std::string history_;
  std::vector<TaskId> tasks_;
  pipeline::BuildState state_;
  std::string parent_;
  std::vector<cache::LayerDescriptor> layers_;
  std::vector<Digest> keys_;
  bool missed_ = false;
  const bool stops_here_;
};

}  // namespace

Result<ImageOutcome> build_one_image(const BuildRequest& req, const pipeline::ImageDef& image,
                                     const BaseImage& base, BuildCounters& counters, KeyLocks& locks) {
  const std::int64_t epoch = TRY(build_epoch(req.pipeline));
  return ImageBuild(req, image, base, counters, locks, epoch).run();
}

}  // namespace gantry::runner
