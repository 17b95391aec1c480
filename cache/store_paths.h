// The one file that owns every path in the store (LevelDB's filename.h).
//
// Store layout, version 1:
//   <root>/lock                       store-wide flock: shared by every command
//                                      that writes, exclusive for gc
//   <root>/blobs/sha256/<hex>          content-addressed blobs (layers, configs, manifests)
//   <root>/layers/<diffid-hex>/        each layer unpacked once, an overlay lowerdir
//   <root>/meta.db                     SQLite (WAL): tags, layers and the other modules' tables
//   <root>/runs/<id>/                  per-run files, owned by the run (run_lock.h)
//   <root>/runs/<id>/<stage>.log       a stage's output
//   <root>/runs/<id>/build-<image>-<n>.log  the output of build step n (1-based) of an image
//   <root>/runs/<id>/artifacts/<stage>/     the artifacts a stage collected
//   <root>/secrets/                    0700: gantry's secret store (secret_store.h)
//   <root>/secrets/values.json         0600: values set by `gantry secret set`
//   <root>/secrets/hmac.key            0600: key of the keyed hashes of secret values in stage keys
//   <root>/secrets/lock                flock around read-modify-write of values.json
//   <root>/runs/<id>/<stage>.tests.json  the stage's test results (JUnit reports, per attempt)
//   <root>/runs/<id>/lock              held (flock) by the process running the run; a run
//                                      recorded "running" whose lock can be taken is dead:
//                                      the next command that reads runs marks it "interrupted"
//   <root>/referrers/<subject-hex>/    OCI 1.1 referrers of a manifest (referrers.h): one
//                                      descriptor file per referrer, named by its hex
//   <root>/locks/environments/<hex>   the turn queue of a project's environment (environment_turns.h)
//   <root>/git/                        mirrors of repositories given by URL (pipeline/git_mirror)
//   <root>/caches/<project>/<name>/    a cache directory (`caches:` of stages and run steps,
//                                      cache_dirs.h): lock (flock: shared or exclusive per the
//                                      cache's sharing) and data/ (mounted rw in containers);
//                                      `private` extra instances are <name>@2/, <name>@3/...;
//                                      never part of a layer or a key; gc leaves them (--caches)
//   <root>/tmp/<session>/              one scratch dir per live process
//   <root>/tmp/<session>.lock          held (flock) by that process; a lock that can be
//                                      taken means its owner died: the next command sweeps both
//   <root>/tmp/<session>.locking       a session lock not published yet (Store::start_session)
//   <root>/tmp/containers/             every container's dir (executor's work_root: ctr-<id>/
//                                      with its lock and cgroups record): never inside a
//                                      session dir, whose sweep would lose the record of a
//                                      dead runner's cgroups; executor::sweep_leftovers()
//                                      removes the dirs and cgroups no live process holds
#pragma once

#include <string>

#include "common/digest.h"

namespace gantry::cache {

inline constexpr int kStoreLayoutVersion = 1;

class StorePaths {
 public:
  explicit StorePaths(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  std::string lock_file() const { return root_ + "/lock"; }
  std::string blobs_root() const { return root_ + "/blobs"; }
  std::string blobs_dir() const { return blobs_root() + "/sha256"; }
  std::string blob(const Digest& d) const { return blobs_dir() + "/" + d.hex(); }
  std::string layers_dir() const { return root_ + "/layers"; }
  // The unpacked tree of the layer whose uncompressed digest is diff_id.
  std::string layer_dir(const Digest& diff_id) const { return layers_dir() + "/" + diff_id.hex(); }
  std::string meta_db() const { return root_ + "/meta.db"; }
  std::string runs_dir() const { return root_ + "/runs"; }
  std::string run_dir(const std::string& run_id) const { return runs_dir() + "/" + run_id; }
  std::string secrets_dir() const { return root_ + "/secrets"; }
  std::string secret_values() const { return secrets_dir() + "/values.json"; }
  std::string secret_hmac_key() const { return secrets_dir() + "/hmac.key"; }
  std::string secrets_lock() const { return secrets_dir() + "/lock"; }
  std::string run_lock(const std::string& run_id) const { return run_dir(run_id) + "/lock"; }
  std::string stage_log(const std::string& run_id, const std::string& stage) const {
    return run_dir(run_id) + "/" + stage + ".log";
  }
  // A stage's test results (JUnit reports read after each attempt, runner/stage_tests.h).
  std::string stage_tests(const std::string& run_id, const std::string& stage) const {
    return run_dir(run_id) + "/" + stage + ".tests.json";
  }
  std::string build_step_log(const std::string& run_id, const std::string& image, int step_number) const {
    return run_dir(run_id) + "/build-" + image + "-" + std::to_string(step_number) + ".log";
  }
  std::string stage_artifacts(const std::string& run_id, const std::string& stage) const {
    return run_dir(run_id) + "/artifacts/" + stage;
  }
  std::string git_dir() const { return root_ + "/git"; }
  std::string referrers_dir() const { return root_ + "/referrers"; }
  std::string referrers_of(const Digest& subject) const { return referrers_dir() + "/" + subject.hex(); }
  // The turn queue of an environment (environment_turns.h); `key` names the
  // project and environment in a file name (hex).
  std::string environment_queue(const std::string& key) const { return root_ + "/locks/environments/" + key; }
  std::string caches_dir() const { return root_ + "/caches"; }
  std::string project_caches_dir(const std::string& project) const { return caches_dir() + "/" + project; }
  // One instance of a cache: `instance` "" for the first, "@2", "@3"... for private extra ones.
  std::string cache_dir(const std::string& project, const std::string& name, const std::string& instance = "") const {
    return project_caches_dir(project) + "/" + name + instance;
  }
  std::string tmp_root() const { return root_ + "/tmp"; }
  std::string session_dir(const std::string& session) const { return tmp_root() + "/" + session; }
  std::string session_lock(const std::string& session) const { return tmp_root() + "/" + session + ".lock"; }
  std::string session_pending_lock(const std::string& session) const {
    return tmp_root() + "/" + session + ".locking";
  }
  // Any entry of tmp/ by its name (the sweep reads the dir).
  std::string tmp_entry(const std::string& name) const { return tmp_root() + "/" + name; }
  std::string containers_dir() const { return tmp_root() + "/containers"; }

 private:
  std::string root_;
};

}  // namespace gantry::cache
