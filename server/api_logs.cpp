// GET /api/v1/runs/{id}/stages/{stage}/log: a stage's log as text (masked
// when it was written, as every log of gantry), or with ?follow=1 an event
// stream of its lines as the stage prints them, ending with an "end" event
// once the stage has ended and every line is sent.
#include <fcntl.h>
#include <unistd.h>

#include "cache/image_store.h"  // before store.h: Store holds a unique_ptr<ImageStore>
#include "cache/meta_db.h"
#include "cache/metadata.h"
#include "common/file_util.h"
#include "common/unique_fd.h"
#include "server/server_core.h"

namespace gantry::server {

namespace {

bool ended(cache::StageStatus status) {
  return status != cache::StageStatus::pending && status != cache::StageStatus::running;
}

Result<cache::StageResult> find_stage(ServerCore& core, const std::string& id, const std::string& stage) {
  cache::Metadata& runs = core.store.metadata();
  auto run = TRY(runs.find_run(id));
  for (auto& s : run.stages)
    if (s.stage == stage) return s;
  return fail(ErrorKind::not_found, "run " + run.id + " has no stage '" + stage + "'");
}

struct Follower {
  ServerCore& core;
  std::string run_id;
  std::string stage;
  std::string path;
  off_t offset = 0;
  std::string partial;
  std::chrono::steady_clock::time_point last_store_read{};
  cache::StageStatus status = cache::StageStatus::pending;

  // Sends the lines written since the last call; true while there may be more.
  bool tick(SseStream& out) {
    std::lock_guard db(core.store.db().mutex());  // as the request handlers (serve.cpp)
    // Where the stage stands: the supervisor's last look when it watches the
    // run, else the store (at most once a second).
    std::optional<cache::StageResult> s = core.supervisor.watched_stage(run_id, stage);
    if (!s && std::chrono::steady_clock::now() - last_store_read >= std::chrono::seconds(1)) {
      last_store_read = std::chrono::steady_clock::now();
      if (auto found = find_stage(core, run_id, stage)) s = *found;
    }
    if (s) {
      status = s->status;
      if (path.empty()) path = s->log_path;
    }
    bool got = false;
    if (!path.empty()) {
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd) {
        char buf[64 * 1024];
        while (true) {
          ssize_t n = ::pread(fd.get(), buf, sizeof buf, offset);
          if (n <= 0) break;
          offset += n;
          got = true;
          partial.append(buf, static_cast<std::size_t>(n));
          std::size_t start = 0;
          for (auto nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n', start)) {
            out.send(sse_event("", std::string_view(partial).substr(start, nl - start)));
            start = nl + 1;
          }
          partial.erase(0, start);
        }
      }
    }
    if (got || !ended(status) || !s) return true;
    if (!partial.empty()) out.send(sse_event("", partial));
    out.send(sse_event("end", nlohmann::json({{"run", run_id}, {"stage", stage}, {"status", status}}).dump()));
    out.finish();
    return false;
  }
};

Reply stage_log(ServerCore& core, const Request& req) {
  const std::string& id = req.params.at("id");
  const std::string& stage = req.params.at("stage");
  auto found = find_stage(core, id, stage);
  if (!found) return error_response(found.error());
  const std::string follow = req.arg("follow");
  if (follow == "1" || follow == "true") {
    auto state = std::make_shared<Follower>(Follower{.core = core, .run_id = found->run_id, .stage = stage});
    state->path = found->log_path;
    state->status = found->status;
    return StreamReply{[state](std::shared_ptr<SseStream> stream) {
      if (!state->tick(*stream)) return;
      stream->every(std::chrono::milliseconds(200), [state, weak = std::weak_ptr<SseStream>(stream)] {
        auto s = weak.lock();
        return s && state->tick(*s);
      });
    }};
  }
  Response r;
  r.content_type = "text/plain; charset=utf-8";
  if (!found->log_path.empty()) {
    auto text = read_file(found->log_path);
    if (text) r.body = std::move(*text);
    else if (text.error().kind() != ErrorKind::not_found) return error_response(text.error());
  }
  return r;
}

}  // namespace

void add_log_routes(Router& router, ServerCore& core) {
  router.add("GET", "/api/v1/runs/{id}/stages/{stage}/log", Access::read,
             [&core](Request& r) { return stage_log(core, r); });
}

}  // namespace gantry::server
