#include "runner/stage_services.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>

#include "common/units.h"
#include "executor/container.h"
#include "runner/container_limits.h"
#include "runner/log_file.h"
#include "runner/secret_mask.h"

namespace gantry::runner {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kTailLines = 20;
constexpr auto kProbeInterval = std::chrono::milliseconds(100);

std::vector<std::string> service_env(const StageImage& image, const pipeline::ServiceDef& def) {
  pipeline::EnvList env;
  for (const auto& kv : image.image.config.env) {
    auto eq = kv.find('=');
    if (eq != std::string::npos) pipeline::set_env(env, kv.substr(0, eq), kv.substr(eq + 1));
  }
  for (const auto& e : def.env) pipeline::set_env(env, e.name, e.value);
  pipeline::set_env(env, "GANTRY_SERVICE", def.name);
  std::vector<std::string> out;
  for (const auto& e : env) out.push_back(e.name + "=" + e.value);
  return out;
}

// An HTTP/1.0 GET over a connected socket: true for a 2xx or 3xx status.
bool http_ok(int fd, const std::string& url) {
  std::string rest = url.substr(std::string("http://").size());
  auto slash = rest.find('/');
  std::string host = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\nUser-Agent: gantry-probe\r\n\r\n";
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return false;
  std::string head;
  char buf[512];
  while (head.find("\r\n") == std::string::npos && head.size() < 4096) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    head.append(buf, static_cast<std::size_t>(n));
  }
  // "HTTP/1.x NNN ..."
  auto sp = head.find(' ');
  if (!head.starts_with("HTTP/") || sp == std::string::npos || head.size() < sp + 4) return false;
  char first = head[sp + 1];
  return first == '2' || first == '3';
}

}  // namespace

std::string service_log_path(const std::string& stage_log_path, const std::string& name) {
  std::string base = stage_log_path;
  if (base.ends_with(".log")) base.resize(base.size() - 4);
  return base + ".service-" + name + ".log";
}

struct StageServices::Service {
  const pipeline::ServiceDef* def = nullptr;
  const StageImage* image = nullptr;
  executor::ContainerSpec spec;
  std::optional<LogFile> log;
  std::mutex mu;
  std::deque<std::string> tail;
  bool saw_text = false;
  std::optional<Result<executor::ContainerResult>> result;  // set when its container ended
  std::atomic<bool> ended{false};
  Clock::time_point started;
  std::stop_source stop;
  std::jthread thread;

  std::string tail_text() {
    std::lock_guard lock(mu);
    std::string out;
    for (const auto& l : tail) out += "\n  | " + l;
    return out.empty() ? "\n  (the service wrote nothing)" : out;
  }
  std::string how_it_ended() {
    std::lock_guard lock(mu);
    if (!result) return "";
    if (!*result) return "could not start: " + result->error().message();
    return (*result)->signal ? "was killed by signal " + std::to_string((*result)->signal)
                             : "exited with code " + std::to_string((*result)->exit_code);
  }
};

StageServices::~StageServices() { stop_all(); }

void StageServices::stop_all() {
  for (auto& s : services_) s->stop.request_stop();
  for (auto& s : services_)
    if (s->thread.joinable()) s->thread.join();
  services_.clear();
}

std::vector<std::pair<std::string, std::string>> StageServices::hosts() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& s : services_) out.emplace_back(s->def->name, "127.0.0.1");
  return out;
}

Result<std::unique_ptr<StageServices>> StageServices::start(RunContext& ctx, const pipeline::StageDef& stage,
                                                            const std::string& stage_log_path,
                                                            std::function<void(const std::string&)> note) {
  std::unique_ptr<StageServices> self(new StageServices());
  self->ctx_ = &ctx;
  self->note_ = std::move(note);
  self->launcher_ = ctx.launcher;
  if (stage.services.empty()) return self;
  self->netns_ = std::make_unique<executor::NetworkNamespace>(
      TRY_CTX(executor::NetworkNamespace::create(), "creating the stage's network namespace"));
  std::vector<std::pair<std::string, std::string>> hosts;
  for (const auto& def : stage.services) hosts.emplace_back(def.name, "127.0.0.1");

  for (const auto& def : stage.services) {
    auto it = ctx.images.find(def.image);
    if (it == ctx.images.end())
      return fail(ErrorKind::internal, "service " + def.name + ": image " + def.image + " is not part of this run");
    auto svc = std::make_unique<Service>();
    svc->def = &def;
    svc->image = &it->second;
    auto& spec = svc->spec;
    spec.lowerdirs = TRY_CTX(ctx.store.images().lowerdirs(it->second.image), "service " + def.name);
    const auto& config = it->second.image.config;
    if (!def.command.empty()) {
      spec.argv = def.command;
    } else {
      spec.argv = config.entrypoint;
      spec.argv.insert(spec.argv.end(), config.cmd.begin(), config.cmd.end());
    }
    if (spec.argv.empty())
      return fail(ErrorKind::invalid_input, "service " + def.name + ": the image " + def.image +
                                                " has neither entrypoint nor cmd; give the service a command");
    spec.env = service_env(it->second, def);
    spec.workdir = config.working_dir.empty() ? "/" : config.working_dir;
    spec.user = config.user;
    spec.hostname = def.name;
    spec.network = executor::NetworkMode::none;
    spec.netns_fd = self->netns_->fd();
    spec.extra_hosts = hosts;
    spec.limits = container_limits(ctx.default_limits, {});
    spec.work_root = ctx.store.paths().containers_dir();
    spec.init_binary = ctx.init_binary;
    auto log = LogFile::open(service_log_path(stage_log_path, def.name));
    if (!log) return fail(log.error());
    svc->log.emplace(std::move(*log));
    Service* raw = svc.get();
    spec.output = [raw, &ctx](executor::Stream, std::string_view line) {
      std::string masked = ctx.masker.mask(std::string(line));
      std::lock_guard lock(raw->mu);
      raw->log->line(masked);
      raw->tail.push_back(masked);
      if (raw->tail.size() > kTailLines) raw->tail.pop_front();
      if (raw->def->ready.kind == pipeline::ProbeKind::log && line.find(raw->def->ready.text) != std::string_view::npos)
        raw->saw_text = true;
    };
    self->services_.push_back(std::move(svc));
  }
  for (auto& s : self->services_) {
    Service* raw = s.get();
    raw->started = Clock::now();
    raw->thread = std::jthread([raw, launcher = self->launcher_] {
      auto r = launcher->run(raw->spec, raw->stop.get_token());
      std::lock_guard lock(raw->mu);
      raw->result.emplace(std::move(r));
      raw->ended = true;
    });
    self->note_("gantry: service " + raw->def->name + " (" + raw->def->image + ") started");
  }
  return self;
}

Status StageServices::wait_ready(std::stop_token stop) {
  for (auto& s : services_) {
    const auto& def = *s->def;
    const auto& probe = def.ready;
    auto deadline = s->started + def.timeout;
    std::string last_problem;
    auto probe_once = [&]() -> bool {
      switch (probe.kind) {
        case pipeline::ProbeKind::none: return true;
        case pipeline::ProbeKind::log: {
          std::lock_guard lock(s->mu);
          return s->saw_text;
        }
        case pipeline::ProbeKind::tcp:
        case pipeline::ProbeKind::http: {
          auto sock = netns_->connect_tcp(probe.port, std::chrono::milliseconds(1000));
          if (!sock) {
            last_problem = sock.error().message();
            return false;
          }
          if (probe.kind == pipeline::ProbeKind::tcp) return true;
          if (http_ok(sock->get(), probe.url)) return true;
          last_problem = "GET " + probe.url + " did not answer 2xx/3xx";
          return false;
        }
        case pipeline::ProbeKind::exec: {
          executor::ContainerSpec spec = s->spec;
          spec.argv = probe.argv;
          spec.hostname = def.name + "-probe";
          spec.timeout = std::chrono::milliseconds(5000);
          std::string out;
          spec.output = [&](executor::Stream, std::string_view line) {
            if (out.size() < 2000) out += std::string(line) + "\n";
          };
          auto r = launcher_->run(spec, stop);
          if (!r) {
            last_problem = r.error().message();
            return false;
          }
          if (r->exit_code == 0) return true;
          last_problem = "exec probe exited with " + std::to_string(r->exit_code);
          return false;
        }
      }
      return false;
    };
    for (;;) {
      if (stop.stop_requested()) return fail(ErrorKind::io, "cancelled while waiting for service " + def.name);
      if (s->ended) {
        return fail(ErrorKind::invalid_input, "service " + def.name + " " + s->how_it_ended() +
                                                  " before it was ready; the end of its log:" + s->tail_text());
      }
      if (probe_once()) break;
      if (Clock::now() >= deadline) {
        std::string kind(pipeline::to_string(probe.kind));
        return fail(ErrorKind::invalid_input,
                    "service " + def.name + " was not ready after " + format_duration(def.timeout) + " (" + kind +
                        " probe" + (last_problem.empty() ? "" : ": " + ctx_->masker.mask(last_problem)) +
                        "); the end of its log:" + s->tail_text());
      }
      std::this_thread::sleep_for(kProbeInterval);
    }
    if (probe.kind != pipeline::ProbeKind::none)
      note_("gantry: service " + def.name + " ready (" + std::string(pipeline::to_string(probe.kind)) + " probe, " +
            format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - s->started)) + ")");
  }
  return {};
}

}  // namespace gantry::runner
