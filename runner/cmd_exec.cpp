// gantry exec: one-off container from an image of the store (or a plain
// rootfs dir), the developer's way to poke inside an image and the way the
// tests and benchmarks drive the executor.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <stop_token>
#include <thread>

#include "cache/image_store.h"
#include "cache/store.h"
#include "cache/store_paths.h"
#include "common/digest.h"
#include "common/phase_trace.h"
#include "common/units.h"
#include "executor/container.h"
#include "runner/cli.h"
#include "runner/container_launcher.h"

namespace gantry::runner {
namespace {

constexpr const char* kExecHelp = R"(Runs CMD in a fresh isolated container made from IMAGE's layers, then removes it.

  gantry exec [OPTIONS] IMAGE [-- CMD [ARG...]]
  gantry exec [OPTIONS] --rootfs DIR -- CMD [ARG...]

Without CMD the image's entrypoint and cmd run; with CMD, the entrypoint (if
any) gets CMD as its arguments, as docker run does. The container has its own
mount, pid, uts, ipc, net and cgroup namespaces, loopback-only network unless
--network host, Docker's default capabilities, no_new_privs and a seccomp
profile. stdout and stderr stream live; stdin is /dev/null.

Exit codes (as docker and podman):
  N      the command's own exit code
  128+N  the command was ended by signal N (137: killed, e.g. OOM or --timeout)
  125    gantry could not start the container (unknown image, bad layer,
         bad user, bad bind mount, bad limit, setup failure)
  126    the command exists but cannot be executed
  127    the command was not found in the image)";

struct ExecOptions {
  std::string network = "none";
  std::string memory, cpus, timeout, workdir, user, hostname, rootfs;
  std::uint64_t pids = 0;
  std::vector<std::string> env;
  std::vector<std::string> mounts;
  std::string image;
  std::string project;  // --project: whose build tags IMAGE may name
  std::vector<std::string> rest;  // CMD...
};

constexpr int kCannotStart = 125;

int usage_error(const std::string& message) {
  std::cerr << "gantry exec: " << message << "\n";
  return kCannotStart;
}

// KEY=VALUE entries override the image's by key.
void merge_env(std::vector<std::string>& env, const std::string& entry) {
  std::string key = entry.substr(0, entry.find('=') + 1);
  std::erase_if(env, [&](const std::string& e) { return e.rfind(key, 0) == 0; });
  env.push_back(entry);
}

Result<executor::BindMount> parse_mount(const std::string& text) {
  // SRC:DST[:ro|rw]
  auto a = text.find(':');
  if (a == std::string::npos) return fail(ErrorKind::usage, "--mount wants SRC:DST[:ro|rw], got " + text);
  auto b = text.find(':', a + 1);
  executor::BindMount m{text.substr(0, a), text.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1), true};
  if (b != std::string::npos) {
    std::string mode = text.substr(b + 1);
    if (mode != "ro" && mode != "rw") return fail(ErrorKind::usage, "--mount mode must be ro or rw: " + text);
    m.read_only = mode == "ro";
  }
  return m;
}

int run_exec(const GlobalOptions& global, const ExecOptions& opt) {
  digest_skip_openssl_config();  // exec hashes a few blobs and never talks TLS
  std::string image_ref = opt.image;
  std::vector<std::string> rest = opt.rest;
  if (!opt.rootfs.empty()) {
    if (!image_ref.empty()) rest.insert(rest.begin(), image_ref);  // no IMAGE: the first word is the command
    image_ref.clear();
  } else if (image_ref.empty()) {
    return usage_error("IMAGE is required (or --rootfs DIR)");
  }

  executor::ContainerSpec spec;
  if (opt.network == "host")
    spec.network = executor::NetworkMode::host;
  else if (opt.network != "none")
    return usage_error("--network must be none or host, got " + opt.network);
  if (!opt.memory.empty()) {
    auto v = parse_byte_size(opt.memory);
    if (!v) return usage_error("--memory: " + v.error().message());
    spec.limits.memory_bytes = *v;
  }
  if (opt.pids) spec.limits.pids = opt.pids;
  if (!opt.cpus.empty()) {
    auto v = parse_cpus(opt.cpus);
    if (!v) return usage_error("--cpus: " + v.error().message());
    spec.limits.cpus = *v;
  }
  if (!opt.timeout.empty()) {
    auto v = parse_duration(opt.timeout);
    if (!v) return usage_error("--timeout: " + v.error().message());
    spec.timeout = *v;
  }
  for (const auto& m : opt.mounts) {
    auto bm = parse_mount(m);
    if (!bm) return usage_error(bm.error().message());
    spec.mounts.push_back(*bm);
  }

  std::unique_ptr<cache::Store> store;
  if (!opt.rootfs.empty()) {
    spec.argv = rest;
    char* abs = ::realpath(opt.rootfs.c_str(), nullptr);
    if (!abs) return usage_error("--rootfs " + opt.rootfs + ": " + std::strerror(errno));
    spec.lowerdirs = {abs};
    std::free(abs);
    spec.work_root =
        cache::StorePaths(std::filesystem::absolute(global.store_dir).lexically_normal().string()).containers_dir();
  } else {
    // Absolute, so the layer dirs and work_root are (overlayfs and the init need that).
    // No scratch dir: exec reads the image and puts its containers under tmp/containers.
    auto opened = cache::Store::open(std::filesystem::absolute(global.store_dir).lexically_normal().string(),
                                     cache::StoreLock::shared, cache::StoreScratch::none);
    if (!opened) return report_error(opened.error()) == kExitUsage ? kExitUsage : kCannotStart;
    store = std::move(*opened);
    trace::phase("store_opened");
    auto image = store->images().load_ref(image_ref, cache::TagScope::from_flag(opt.project));
    if (!image) {
      std::cerr << "gantry: image " << image_ref << ": " << image.error().message() << "\n";
      return kCannotStart;
    }
    auto layers = store->images().lowerdirs(*image);
    if (!layers) {
      std::cerr << "gantry: image " << image_ref << ": " << layers.error().message() << "\n";
      return kCannotStart;
    }
    const auto& cfg = image->config;
    spec.lowerdirs = *layers;
    spec.env = cfg.env;
    spec.workdir = cfg.working_dir.empty() ? "/" : cfg.working_dir;
    spec.user = cfg.user;
    spec.argv = cfg.entrypoint;
    const auto& cmd = rest.empty() ? cfg.cmd : rest;
    spec.argv.insert(spec.argv.end(), cmd.begin(), cmd.end());
    spec.work_root = store->paths().containers_dir();
    store->close_metadata();  // the lock stays: the image's layers are safe from gc until exit
    trace::phase("image_resolved");
  }
  if (spec.argv.empty()) return usage_error("no command: give one after -- (the image has no entrypoint or cmd)");
  for (const auto& e : opt.env) {
    if (e.find('=') == std::string::npos) {
      const char* v = std::getenv(e.c_str());  // -e KEY passes the host's value, as docker does
      if (v) merge_env(spec.env, e + "=" + v);
    } else {
      merge_env(spec.env, e);
    }
  }
  if (!opt.workdir.empty()) spec.workdir = opt.workdir;
  if (!opt.user.empty()) spec.user = opt.user;
  spec.hostname = opt.hostname;
  spec.output = [](executor::Stream s, std::string_view line) {
    // One write per line keeps lines whole and live.
    std::string buf;
    buf.reserve(line.size() + 1);
    buf.append(line).push_back('\n');
    int fd = s == executor::Stream::out ? STDOUT_FILENO : STDERR_FILENO;
    for (std::size_t off = 0; off < buf.size();) {
      ssize_t n = ::write(fd, buf.data() + off, buf.size() - off);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
  };

  // SIGINT/SIGTERM cancel the container (SIGTERM to the command, then kill).
  std::stop_source stop;
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::thread([sigs, &stop]() mutable {
    int sig = 0;
    if (sigwait(&sigs, &sig) == 0) stop.request_stop();
  }).detach();

  auto result = executor_launcher().run(spec, stop.get_token());
  if (!result) {
    std::cerr << "gantry: " << result.error().message() << "\n";
    return executor::start_failure_exit_code(result.error());
  }
  if (result->timed_out)
    std::cerr << "gantry: the container was killed after the timeout of " << format_duration(*spec.timeout) << "\n";
  if (result->oom_killed) std::cerr << "gantry: the container ran out of memory (limit " << opt.memory << ")\n";
  return result->exit_code;
}

}  // namespace

void add_exec_commands(Cli& cli) {
  auto* sub = cli.app.add_subcommand("exec", "Run a command in a fresh container from an image (see --help)");
  sub->footer(kExecHelp);
  auto opt = std::make_shared<ExecOptions>();
  sub->add_option("--network", opt->network, "none (loopback only, default) or host");
  sub->add_option("--memory", opt->memory, "Memory limit, e.g. 256M, 1G (breach: OOM-killed, exit 137)");
  sub->add_option("--pids", opt->pids, "Max number of processes and threads");
  sub->add_option("--cpus", opt->cpus, "CPU quota, e.g. 1.5");
  sub->add_option("--timeout", opt->timeout, "Kill the container after this long, e.g. 90s, 2m");
  sub->add_option("-e,--env", opt->env, "Set KEY=VALUE (or pass KEY from the host); repeatable")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub->add_option("-w,--workdir", opt->workdir, "Working directory inside the container");
  sub->add_option("-u,--user", opt->user, "uid[:gid] or name[:group] from the image's /etc/passwd");
  sub->add_option("--hostname", opt->hostname, "Hostname (default: the container id)");
  sub->add_option("--mount", opt->mounts, "Bind mount SRC:DST[:ro|rw] (default ro); repeatable")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub->add_option("--project", opt->project,
                  "Resolve IMAGE among this project's build tags (default: the store-wide tag, else the only project's)");
  sub->add_option("--rootfs", opt->rootfs, "Use DIR as the container's only layer instead of an IMAGE");
  // IMAGE and CMD: after "--" everything is the command, its options included.
  // (With --rootfs the first word after "--" lands in IMAGE: it is argv[0].)
  sub->add_option("IMAGE", opt->image, "Image reference (NAME[:TAG], NAME@sha256:..., sha256:...)");
  sub->add_option("CMD", opt->rest, "The command and its arguments, after --");
  sub->allow_extras();  // CLI11 keeps the "--" marker among the extras
  sub->parse_complete_callback([&cli, opt] { cli.action = [&cli, opt] { return run_exec(cli.global, *opt); }; });
}

}  // namespace gantry::runner
