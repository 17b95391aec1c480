// executor/: one command in one fresh, isolated container, and nothing left
// behind. The public API of the folder.
//
//   ContainerSpec spec;
//   spec.lowerdirs = image_store.lowerdirs(image);   // bottom → top
//   spec.argv = {"sh", "-c", "make test"};
//   spec.work_root = store_paths.containers_dir();   // where the container dir lives
//   spec.output = [](Stream s, std::string_view line) { ... };
//   Result<ContainerResult> r = executor::run(spec);
//
// How it works: run() clones the container's PID 1 straight into new
// mount/pid/uts/ipc/net namespaces (CLONE_VM|CLONE_VFORK: no page tables
// copied), joined to the container's cgroups, in a cgroup namespace rooted
// there, and that child execs gantry-init (executor/init/: a small static C
// program installed next to gantry). gantry-init mounts the overlay of the
// layers, /proc, /dev, /sys, pivots into it and forks the command after
// cutting capabilities, setting no_new_privs and loading seccomp; it reaps
// zombies and forwards SIGINT/SIGTERM/... Output comes back on pipes, setup
// failures as {step, errno} on a socketpair. Every mount lives only in the
// container's mount namespace; every process dies with PID 1, which dies with
// the runner thread (PR_SET_PDEATHSIG); run() removes the cgroups and the
// container's temp dir on every path.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace gantry::executor {

enum class Stream { out, err };

// Called live, once per line (without the '\n'), from the thread that called
// run(). Bytes are passed through unchanged (binary safe); a line longer than
// kMaxLineBytes is delivered in kMaxLineBytes pieces; a last line without a
// newline is delivered at the end.
using OutputSink = std::function<void(Stream stream, std::string_view line)>;
inline constexpr std::size_t kMaxLineBytes = 64 * 1024;

struct BindMount {
  std::string source;       // host path (file or directory); must exist
  std::string target;       // absolute path inside the container; created if missing
  bool read_only = true;
};

enum class NetworkMode {
  none,  // a new network namespace with only loopback, up (the default)
  host,  // the host's network namespace
};

struct Limits {
  std::optional<std::uint64_t> memory_bytes;  // memory (+swap) limit; breach → oom_killed
  std::optional<std::uint64_t> pids;          // max processes/threads in the container
  std::optional<double> cpus;                 // CFS quota, e.g. 1.5 CPUs
  // The size of the tmpfs that holds an in-memory upper (size=): writes past
  // it fail with ENOSPC. Unset: the kernel's default, half the host's RAM.
  // Ignored for an upper on disk (keep_upper, upper_on_disk).
  std::optional<std::uint64_t> tmpfs_bytes;
  // RLIMIT_FSIZE of the command (soft and hard): no process of the container
  // writes a file past this size (EFBIG / SIGXFSZ). The bound gantry has for
  // an upper on disk: per file, not for the sum (docs/security.md).
  std::optional<std::uint64_t> file_bytes;
  // Neither of the two above needs a cgroup.
};

struct ContainerSpec {
  std::vector<std::string> lowerdirs;  // unpacked layer dirs, bottom → top (at least one)
  std::vector<std::string> argv;       // argv[0] is searched in PATH (from env) unless it has a '/'
  std::vector<std::string> env;        // "K=V"; PATH defaults to the usual one when absent
  std::string workdir = "/";           // created in the container if missing
  std::string user;                    // "", "uid[:gid]", "name[:group]" (from the image's /etc/passwd, /etc/group)
  std::string hostname;                // "" → the container id
  std::vector<BindMount> mounts;
  NetworkMode network = NetworkMode::none;
  // With network none: join this network namespace (an fd of
  // NetworkNamespace, executor/netns.h) instead of a new one, e.g. a stage
  // and its services sharing 127.0.0.1. -1 = a new namespace of its own.
  int netns_fd = -1;
  // Extra /etc/hosts lines {name, address} (service names -> 127.0.0.1).
  std::vector<std::pair<std::string, std::string>> extra_hosts;
  Limits limits;
  std::optional<std::chrono::milliseconds> timeout;  // then everything in the container is killed
  OutputSink output;                   // null → output is discarded
  // Build steps: keep the overlay upper dir. ContainerResult::upper_dir then
  // names it (under work_root); the CALLER owns it from then on: it turns it
  // into a layer (cache/ LayerWriter converts overlay whiteouts) and deletes
  // it (gantry::remove_tree). Without keep_upper, run() deletes it.
  bool keep_upper = false;
  // Where a kept upper is moved (renamed: same filesystem as work_root) before
  // run() returns, e.g. the caller's own scratch dir, so that a caller that
  // dies before it deletes the upper leaves it where its own sweep finds it.
  // "" = work_root (upper-<id>).
  std::string kept_upper_dir;
  // Without keep_upper the upper dir (the container's writes) lives in a
  // tmpfs of the container: RAM, charged to its memory cgroup, gone with it,
  // and nothing touches the disk (the fastest start and end). A stage that
  // writes gigabytes should set upper_on_disk: then it lives under work_root.
  bool upper_on_disk = false;
  // Where the container's dir (ctr-<id>/: lock, cgroups record, upper and
  // work dirs when on disk) lives, e.g. <store>/tmp/containers (not a
  // per-process scratch dir that another sweep may delete: sweep_leftovers()
  // must see it to remove the cgroups of a crashed runner). Must be on a
  // filesystem that can hold an overlay upper (ext4, xfs). Created if missing.
  std::string work_root;
  // The gantry-init binary; "" = the one next to the running program
  // (/proc/self/exe's directory), where gantry is installed with it.
  std::string init_binary;
  // On cancellation: SIGTERM goes to the command, then after this grace
  // period everything in the container is killed.
  std::chrono::milliseconds stop_grace{2000};
};

struct ContainerResult {
  int exit_code = 0;        // the command's exit code; 128+N when signal N ended it
  int signal = 0;           // the terminating signal, 0 when it exited
  bool timed_out = false;   // killed because spec.timeout passed
  bool oom_killed = false;  // the memory limit was breached and the kernel killed a process
  bool cancelled = false;   // killed because the stop_token was triggered
  std::chrono::milliseconds wall_time{0};  // spawn of the init to the end of the container
  bool upper_full = false;  // the in-memory upper was full when the command ended (Limits::tmpfs_bytes reached)
  std::string upper_dir;    // set when keep_upper (owned by the caller, see above)
  std::string id;           // the container id (12 hex digits)
};

// The start failures, with the exit codes podman and docker use. An Error
// from run() carries one of these in errno_value() as a negative number so the
// CLI can map it (see start_failure_exit_code()).
enum class StartFailure {
  cannot_start = 125,    // gantry could not set up the container (bad layer dir, bind source, limit, user…)
  not_executable = 126,  // the command exists but cannot be executed (EACCES, ENOEXEC…)
  not_found = 127,       // the command is not in the image (ENOENT on every PATH entry)
};
// 125, 126 or 127 for an error returned by run().
int start_failure_exit_code(const Error& error);

// Runs one container to its end. Returns the result for any command outcome
// (including non-zero exits, signals, timeout, OOM, cancellation); returns an
// Error when the container could not be started (start_failure_exit_code()).
// Triggering `stop` (e.g. from a SIGTERM handler thread) forwards SIGTERM to
// the command and kills the whole container after spec.stop_grace.
// Thread-safe: run() may be called from several threads at once.
Result<ContainerResult> run(const ContainerSpec& spec, std::stop_token stop = {});

// Without root (common/userns.h, docs/rootless.md) the memory, pids and cpus
// limits need a cgroup delegated to the user. Where there is none, run()
// says once (a warning) that they are not enforced and runs without them;
// after set_require_limits(true) (`gantry --require-limits`) it refuses the
// container instead (StartFailure::cannot_start). No effect as root.
void set_require_limits(bool required);

// Removes what a runner killed with SIGKILL left under work_root: container
// dirs (ctr-*) no live process holds, and the cgroups they recorded. Safe to
// call while other runners use the same work_root (their dirs are locked).
// Returns the number of containers swept.
Result<int> sweep_leftovers(const std::string& work_root);

}  // namespace gantry::executor
