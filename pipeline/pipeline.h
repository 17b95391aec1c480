// The model of a .gantry.yml: images built from steps, stages run in
// containers, environments an image digest is promoted through. Plain values,
// filled and checked by loader.h; docs/pipeline.md describes the file format.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gantry::pipeline {

// Where something was written in the file: 1-based line and column (0 = unknown).
struct SourcePos {
  int line = 0;
  int column = 0;
};

enum class NetworkMode { none, host };  // none = loopback only (the default)
std::string_view to_string(NetworkMode mode);

struct EnvVar {
  std::string name;
  std::string value;
  bool operator==(const EnvVar&) const = default;
};
using EnvList = std::vector<EnvVar>;  // in the order written

// `caches:` on a run step or a stage: a persistent directory per project and
// name (in the runner's store), mounted read-write at `path`. Never part of a
// layer or of a step or stage key: what a command leaves there must not change
// its result (docs/pipeline.md, "Cache directories").
enum class CacheSharing {
  locked,   // one container at a time; the others wait (the default)
  shared,   // every container at once (the tool must cope: ccache, apt's own lock)
  private_, // a container that finds it in use gets a fresh empty directory of its own
};
std::string_view to_string(CacheSharing sharing);
struct CacheMount {
  std::string name;  // letters, digits, '.', '_', '-' (no '/', no "..")
  std::string path;  // absolute, not "/", in the container
  CacheSharing sharing = CacheSharing::locked;
  SourcePos pos;
  bool operator==(const CacheMount&) const = default;
};

enum class StepKind { run, copy, env, workdir, user };
std::string_view to_string(StepKind kind);

struct Owner {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  bool operator==(const Owner&) const = default;
};

struct Step {
  StepKind kind = StepKind::run;
  SourcePos pos;  // of the step's kind key ("run:", "copy:", ...)

  // run: exactly one of `script` (a string: run as /bin/sh -c script) or
  // `argv` (a list: executed directly) is set.
  std::string script;
  std::vector<std::string> argv;
  bool shell_form() const { return argv.empty(); }
  // The command to execute: argv, or {"/bin/sh", "-c", script}.
  std::vector<std::string> command() const;
  NetworkMode network = NetworkMode::none;
  std::vector<CacheMount> caches;  // run: cache directories (never in the step key)

  // run: variables for this step only (added to the image's effective env);
  // env step: variables set for every later step and in the image config.
  EnvList env;

  // copy: sources as written and as tree paths (joined to the pipeline
  // file's directory and normalised: "examples/hello/src"; may be globs),
  // destination as written (absolute, in the image; a trailing '/' or several
  // sources or a glob make it a directory).
  std::vector<std::string> sources;
  std::vector<std::string> tree_sources;
  std::string dest;
  std::optional<std::uint32_t> chmod;  // permission bits for copied files and directories
  std::optional<Owner> chown;          // numeric uid:gid; default 0:0

  // workdir / user step: the new value.
  std::string value;
};

struct ImageDef {
  std::string name;
  std::string file;    // the file it is written in: the pipeline file or one it includes
  SourcePos pos;       // of the image's name key
  std::string from;    // "scratch", another image of the file, a store image ref
                       // (busybox, app:1.2) or a registry ref (127.0.0.1:5000/team/base:1.2,
                       // name@sha256:...)
  SourcePos from_pos;
  EnvList env;         // set before the first step, in order
  std::optional<std::string> workdir;
  std::optional<std::string> user;
  std::optional<std::vector<std::string>> entrypoint;  // a string s means {"/bin/sh", "-c", s}
  std::optional<std::vector<std::string>> cmd;         // likewise
  std::map<std::string, std::string> labels;
  std::vector<Step> steps;
};

// A secret a stage asks for, by name only: where its value comes from is the
// runner's decision (its secret store and its configuration), never the
// pipeline's (docs/security.md, "Secrets").
struct Secret {
  std::string name;   // the variable the stage sees, and the name the runner provides it under
  SourcePos pos;
};

// A stage's own `limits:`; what it leaves unset comes from the runner's
// defaults (runner/runner_config.h).
struct Limits {
  std::optional<std::uint64_t> memory;  // bytes
  std::optional<std::uint64_t> pids;
  std::optional<double> cpus;
  std::optional<std::uint64_t> tmpfs;  // bytes: the in-memory upper (the container's writes)
  std::optional<std::uint64_t> disk;   // bytes: the largest file written when the upper is on disk
};

// How a service says it is ready; the stage starts once every probe of its
// services succeeded (probes are retried until the service's timeout).
enum class ProbeKind { none, tcp, http, exec, log };
std::string_view to_string(ProbeKind kind);
struct ReadyProbe {
  ProbeKind kind = ProbeKind::none;
  std::uint16_t port = 0;          // tcp: connect to 127.0.0.1:port; http: the URL's port
  std::string url;                 // http: "http://name-or-127.0.0.1[:port]/path", a 2xx/3xx answer
  std::vector<std::string> argv;   // exec: a command in a fresh container of the service's image (exit 0)
  std::string text;                // log: a line of the service's output contains it
  bool operator==(const ReadyProbe&) const = default;
};

// `services:` on a stage: containers started before it, sharing its network
// namespace (reachable on 127.0.0.1 and by name), stopped when it ends.
struct ServiceDef {
  std::string name;                  // a host name in the stage's /etc/hosts
  SourcePos pos;
  std::string image;                 // an image of the file, a store ref or a registry ref
  SourcePos image_pos;
  std::vector<std::string> command;  // empty = the image's entrypoint + cmd; a string s = {"/bin/sh", "-c", s}
  EnvList env;
  ReadyProbe ready;
  std::chrono::milliseconds timeout{60000};  // for the probe to succeed
};

struct StageDef {
  std::string name;
  std::string file;    // the file it is written in: the pipeline file or one it includes
  SourcePos pos;
  std::string image;   // an image of the file, or a store image ref
  SourcePos image_pos;
  std::vector<std::string> run;  // commands, run in order with /bin/sh -c, stopping at the first failure
  // The single /bin/sh script equivalent to `run`: "{\nc1\n} && {\nc2\n}".
  std::string script() const;
  std::vector<std::string> needs;
  std::vector<SourcePos> needs_pos;  // of each element of `needs`
  std::string environment;        // always set: the file's value, or the first environment
  bool environment_explicit = false;
  SourcePos environment_pos;
  EnvList env;
  std::vector<Secret> secrets;
  std::optional<std::chrono::milliseconds> timeout;
  Limits limits;
  NetworkMode network = NetworkMode::none;
  std::vector<std::string> artifacts;  // absolute paths in the container
  // `reports: {junit: ...}`: JUnit XML files the stage writes (absolute; the
  // file name may be a glob), read after it ends, passed or failed.
  std::vector<std::string> junit_reports;
  bool cache = true;
  bool allow_failure = false;
  // `interruptible:` (docs/pipeline.md): a newer run of the same branch queued
  // by `gantry serve` cancels this stage while it runs or before it starts;
  // unset = the pipeline's top-level `interruptible:` (default false).
  std::optional<bool> interruptible;
  unsigned retry = 0;                  // extra attempts after a failure
  // `runs_on:` the labels an agent must have to run it (gantry agent
  // --labels; docs/scale-out.md). Not part of the stage key: where a stage
  // runs does not change what it computes. Ignored by a local run.
  std::vector<std::string> runs_on;
  bool workspace = true;               // the commit's files read-only at /workspace
  // paths/globs as written (relative to the pipeline file's directory) and as
  // tree paths (normalised like copy sources); empty = the whole tree.
  std::vector<std::string> inputs;
  std::vector<std::string> tree_inputs;
  // A cell of a `matrix:` stage: the stage's name as written ("unit") and the
  // cell's variables in the matrix's order (also set in `env`); `name` is
  // "unit [CC=gcc, OPT=-O0]". Empty for other stages.
  std::string matrix_of;
  EnvList matrix;
  std::vector<ServiceDef> services;
  std::vector<CacheMount> caches;
};

// A stage name as one file-name component (logs, artifacts): '/' and '%'
// percent-encoded, so a matrix value like "/usr/bin/gcc" stays in its dir.
std::string stage_file_name(std::string_view stage_name);

enum class Gate { automatic, manual };
std::string_view to_string(Gate gate);

// `require:` of an environment (docs/attestations.md): what the signed
// attestations of a digest must show before it is promoted there. Key names
// in signed_by are resolved through the runner's configuration (`keys:`),
// never read from the commit's tree (docs/security.md).
struct EnvironmentRequire {
  std::vector<std::string> signed_by;  // key names
  std::optional<std::string> repository;
  std::optional<std::string> branch;
  std::vector<std::string> passed;     // stage names
  SourcePos pos;
  std::vector<SourcePos> passed_pos;
};

struct EnvironmentDef {
  std::string name;
  std::string file;    // the file it is written in ("" for the default environments)
  SourcePos pos;
  Gate when = Gate::automatic;
  // OCI layout/archive written on promotion: a path relative to the runner's
  // export_dir for the project (no '..', never absolute; docs/security.md).
  std::optional<std::string> export_path;
  std::optional<std::string> push;  // registry ref pushed on promotion (the runner's push allow-list)
  SourcePos export_pos;             // where `export:` / `push:` are written
  SourcePos push_pos;
  std::optional<EnvironmentRequire> require;
  // `concurrency:` how many runs may run its stages and promote into it at
  // once (others wait in order); 0 = unlimited. Unset: 1 for `when: manual`
  // environments, else unlimited (slots()).
  std::optional<int> concurrency;
  int slots() const { return concurrency ? *concurrency : (when == Gate::manual ? 1 : 0); }
};

// A file the pipeline file includes (`include:`, docs/pipeline.md).
struct IncludedFile {
  std::string path;     // in the tree
  std::string blob_id;  // its git blob id (40 hex)
  std::string text;     // its content
};

struct Pipeline {
  std::string file;      // path of the file as given to the loader (in the tree)
  std::string base_dir;  // its directory in the tree ("" at the root); also the base of included files' paths
  // "sha256:<hex>" of the file's bytes; with includes, of the file's bytes
  // and every included file's path and git blob id.
  std::string digest;
  std::vector<IncludedFile> includes;  // in the order they were merged (depth first), text cleared
  // Top-level `project:` ("" = derived from the repository; docs/pipeline.md).
  // Names where runs, environments and history are kept, never the runner's
  // policy (docs/security.md).
  std::string project;
  SourcePos project_pos;
  std::vector<ImageDef> images;            // in file order
  std::vector<StageDef> stages;            // in file order
  std::vector<EnvironmentDef> environments;  // promotion order; default test, staging, production
  // Top-level `epoch:` (seconds since 1970): the time every layer's mtimes
  // are clamped to and the image config's `created`. Unset: the runner's
  // $SOURCE_DATE_EPOCH, else 0 (docs/build.md, "Reproducible layers").
  std::optional<std::int64_t> epoch;
  // Top-level `interruptible:`: the default of every stage's `interruptible:`.
  bool interruptible = false;

  const ImageDef* find_image(std::string_view name) const;
  const StageDef* find_stage(std::string_view name) const;
  const EnvironmentDef* find_environment(std::string_view name) const;
  // Position of an environment in the promotion order; -1 when unknown.
  int environment_index(std::string_view name) const;
  // The stages of one environment, in file order.
  std::vector<const StageDef*> stages_of(std::string_view environment) const;
};

// What a build step runs with: the effective env, workdir and user. The
// image's own env/workdir/user apply before its first step (so steps see
// them) and env/workdir/user steps change them for every later step; the
// state after the last step is the image's config (plus entrypoint, cmd, labels).
struct BuildState {
  EnvList env;
  std::string workdir = "/";
  std::string user;  // "" = the base image's user (root for scratch)
  bool operator==(const BuildState&) const = default;
};
// `base` is the base image's config (its Env, WorkingDir, User); returns the
// state before the first step.
BuildState initial_state(const ImageDef& image, BuildState base);
// The state after `step` (run and copy steps change nothing; a run step's
// own env is for that step only: see step_env()).
BuildState apply_step(BuildState state, const Step& step);
// The env a run step executes with: the state's env plus the step's own.
EnvList step_env(const BuildState& state, const Step& step);

// Sets `name` in `env`, replacing an existing entry in place.
void set_env(EnvList& env, const std::string& name, const std::string& value);

}  // namespace gantry::pipeline
