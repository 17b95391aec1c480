#include "cache/run_queue.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "cache/image_store.h"  // before store.h: Store holds a unique_ptr<ImageStore>
#include "cache/meta_db.h"
#include "cache/metadata.h"
#include "cache/store.h"

namespace gantry::cache {

namespace {

constexpr const char* kQueueColumns =
    "id, seq, kind, repo_name, repo, rev, branch, commit_id, subject, project, retry_of, source, delivery, state,"
    " error, requested_ms, started_ms, finished_ms, pid";

QueueEntry read_entry(const Statement& st) {
  QueueEntry e;
  e.id = st.column_text(0);
  e.seq = st.column_int64(1);
  e.kind = st.column_text(2);
  e.repo_name = st.column_text(3);
  e.repo = st.column_text(4);
  e.rev = st.column_text(5);
  e.branch = st.column_text(6);
  e.commit = st.column_text(7);
  e.subject = st.column_text(8);
  e.project = st.column_text(9);
  e.retry_of = st.column_text(10);
  e.source = st.column_text(11);
  e.delivery = st.column_text(12);
  e.state = st.column_text(13);
  e.error = st.column_text(14);
  e.requested_ms = st.column_int64(15);
  e.started_ms = st.column_int64(16);
  e.finished_ms = st.column_int64(17);
  e.pid = static_cast<int>(st.column_int64(18));
  return e;
}

Result<std::optional<QueueEntry>> one_entry(Statement& st) {
  if (!TRY(st.step())) return std::optional<QueueEntry>();
  return std::optional<QueueEntry>(read_entry(st));
}

// The server shares one connection between its threads: a write may meet
// SQLITE_BUSY without waiting (another thread's statement holds an older read
// snapshot while a run's process committed). Such a write is tried again.
template <typename F>
auto retry_busy(F&& write) -> decltype(write()) {
  for (int attempt = 0;; ++attempt) {
    auto result = write();
    if (result || attempt >= 100) return result;
    const std::string& why = result.error().message();
    if (why.find("database is locked") == std::string::npos && why.find("busy") == std::string::npos) return result;
    std::this_thread::sleep_for(std::chrono::milliseconds(10 + attempt));
  }
}

}  // namespace

std::string queue_entry_status(const std::string& state, const std::string& error) {
  if (state == "running") return "starting";
  if (state == "done" || state == "interrupted") return error.empty() ? state : "failed";
  return state;  // queued | cancelled
}

Status RunQueue::enqueue(QueueEntry& e) {
  return retry_busy([&] { return enqueue_once(e); });
}

Status RunQueue::enqueue_once(QueueEntry& e) {
  auto& db = store_.db();
  auto tx = TRY(db.transaction());
  auto seq = TRY(db.query_text("SELECT COALESCE(MAX(seq), 0) + 1 FROM serve_queue"));
  e.seq = seq ? std::stoll(*seq) : 1;
  if (!e.requested_ms) e.requested_ms = now_ms();
  auto st = TRY(db.prepare(std::string("INSERT INTO serve_queue (") + kQueueColumns +
                           ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
                           " ?18, ?19)"));
  st.bind(1, e.id).bind(2, e.seq).bind(3, e.kind).bind(4, e.repo_name).bind(5, e.repo).bind(6, e.rev);
  st.bind(7, e.branch).bind(8, e.commit).bind(9, e.subject).bind(10, e.project).bind(11, e.retry_of);
  st.bind(12, e.source).bind(13, e.delivery).bind(14, e.state).bind(15, e.error).bind(16, e.requested_ms);
  st.bind(17, e.started_ms).bind(18, e.finished_ms).bind(19, std::int64_t{e.pid});
  TRY_CTX(st.run(), "queueing run " + e.id);
  return tx.commit();
}

Result<std::optional<QueueEntry>> RunQueue::get(const std::string& id) {
  auto st = TRY(store_.db().prepare(std::string("SELECT ") + kQueueColumns + " FROM serve_queue WHERE id = ?1"));
  st.bind(1, id);
  return one_entry(st);
}

Result<std::optional<QueueEntry>> RunQueue::find_delivery(const std::string& source, const std::string& delivery) {
  if (delivery.empty()) return std::optional<QueueEntry>();
  auto st = TRY(store_.db().prepare(std::string("SELECT ") + kQueueColumns +
                                    " FROM serve_queue WHERE source = ?1 AND delivery = ?2"));
  st.bind(1, source).bind(2, delivery);
  return one_entry(st);
}

Result<std::optional<QueueEntry>> RunQueue::last_delivery(const std::string& source, const std::string& prefix) {
  auto st = TRY(store_.db().prepare(std::string("SELECT ") + kQueueColumns +
                                    " FROM serve_queue WHERE source = ?1 AND substr(delivery, 1, length(?2)) = ?2"
                                    " ORDER BY seq DESC LIMIT 1"));
  st.bind(1, source).bind(2, prefix);
  return one_entry(st);
}

Result<std::optional<QueueEntry>> RunQueue::find_commit(const std::string& repo_name, const std::string& commit) {
  auto st = TRY(store_.db().prepare(std::string("SELECT ") + kQueueColumns +
                                    " FROM serve_queue WHERE repo_name = ?1 AND commit_id = ?2 AND kind = 'run'"
                                    " AND state != 'cancelled' ORDER BY seq LIMIT 1"));
  st.bind(1, repo_name).bind(2, commit);
  return one_entry(st);
}

Result<std::vector<QueueEntry>> RunQueue::in_state(const std::string& state) {
  auto st = TRY(store_.db().prepare(std::string("SELECT ") + kQueueColumns +
                                    " FROM serve_queue WHERE state = ?1 ORDER BY seq"));
  st.bind(1, state);
  std::vector<QueueEntry> out;
  while (TRY(st.step())) out.push_back(read_entry(st));
  return out;
}

Result<bool> RunQueue::start(const std::string& id, int pid) {
  return retry_busy([&]() -> Result<bool> {
  auto st = TRY(store_.db().prepare(
      "UPDATE serve_queue SET state = 'running', pid = ?2, started_ms = ?3 WHERE id = ?1 AND state = 'queued'"
      " RETURNING id"));
  st.bind(1, id).bind(2, std::int64_t{pid}).bind(3, now_ms());
  bool changed = TRY(st.step());
  TRY(st.reset());
  return changed;
  });
}

Result<bool> RunQueue::cancel_queued(const std::string& id) {
  return retry_busy([&]() -> Result<bool> {
  auto st = TRY(store_.db().prepare(
      "UPDATE serve_queue SET state = 'cancelled', finished_ms = ?2 WHERE id = ?1 AND state = 'queued' RETURNING id"));
  st.bind(1, id).bind(2, now_ms());
  bool changed = TRY(st.step());
  TRY(st.reset());
  return changed;
  });
}

Status RunQueue::finish(const std::string& id, const std::string& state, const std::string& error) {
  return retry_busy([&]() -> Status {
  auto st = TRY(store_.db().prepare(
      "UPDATE serve_queue SET state = ?2, error = ?3, finished_ms = ?4, pid = 0 WHERE id = ?1"));
  st.bind(1, id).bind(2, state).bind(3, error).bind(4, now_ms());
  TRY_CTX(st.run(), "ending queued run " + id);
  return {};
  });
}

Result<std::vector<RunSummary>> RunQueue::page(const RunPageQuery& q) {
  const int limit = std::clamp(q.limit, 1, 500);
  // The run records (by primary key, newest first: ids sort by start time)...
  auto runs = TRY(store_.db().prepare(
      "SELECT r.id, r.status, r.project, r.repo, r.rev, COALESCE(q.branch, ''), r.commit_id, COALESCE(q.subject, ''),"
      " COALESCE(q.source, ''), r.error, r.waiting_environment, r.started_ms, r.finished_ms"
      " FROM runs r LEFT JOIN serve_queue q ON q.id = r.id"
      " WHERE (?1 = '' OR r.id < ?1) AND (?2 = '' OR r.project = ?2) AND (?3 = '' OR r.status = ?3)"
      " ORDER BY r.id DESC LIMIT ?4"));
  runs.bind(1, q.before).bind(2, q.project).bind(3, q.status).bind(4, std::int64_t{limit});
  std::vector<RunSummary> out;
  while (TRY(runs.step())) {
    RunSummary s;
    s.id = runs.column_text(0);
    s.status = runs.column_text(1);
    s.project = runs.column_text(2);
    s.repo = runs.column_text(3);
    s.rev = runs.column_text(4);
    s.branch = runs.column_text(5);
    s.commit = runs.column_text(6);
    s.subject = runs.column_text(7);
    s.source = runs.column_text(8);
    s.error = runs.column_text(9);
    s.waiting_environment = runs.column_text(10);
    s.started_ms = runs.column_int64(11);
    s.finished_ms = runs.column_int64(12);
    out.push_back(std::move(s));
  }
  // ...and the queue entries that have none (a few: waiting or never recorded).
  auto queued = TRY(store_.db().prepare(
      "SELECT q.id, q.state, q.project, q.repo, q.rev, q.branch, q.commit_id, q.subject, q.source, q.error,"
      " q.requested_ms, q.finished_ms, q.repo_name FROM serve_queue q"
      " WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = q.id) AND (?1 = '' OR q.id < ?1)"
      " AND (?2 = '' OR q.project = ?2 OR q.repo_name = ?2) ORDER BY q.id DESC LIMIT ?3"));
  queued.bind(1, q.before).bind(2, q.project).bind(3, std::int64_t{limit});
  while (TRY(queued.step())) {
    RunSummary s;
    s.id = queued.column_text(0);
    s.error = queued.column_text(9);
    s.status = queue_entry_status(queued.column_text(1), s.error);
    if (!q.status.empty() && s.status != q.status) continue;
    s.project = queued.column_text(2);
    if (s.project.empty()) s.project = queued.column_text(12);
    s.repo = queued.column_text(3);
    s.rev = queued.column_text(4);
    s.branch = queued.column_text(5);
    s.commit = queued.column_text(6);
    s.subject = queued.column_text(7);
    s.source = queued.column_text(8);
    s.started_ms = queued.column_int64(10);
    s.finished_ms = queued.column_int64(11);
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const RunSummary& a, const RunSummary& b) { return a.id > b.id; });
  if (out.size() > static_cast<std::size_t>(limit)) out.resize(static_cast<std::size_t>(limit));
  return out;
}

Result<RunCounts> RunQueue::counts() {
  RunCounts c;
  auto& db = store_.db();
  auto runs = TRY(db.prepare("SELECT status, COUNT(*) FROM runs GROUP BY status"));
  while (TRY(runs.step())) c.runs_by_status[runs.column_text(0)] = runs.column_int64(1);
  auto queued = TRY(db.query_text("SELECT COUNT(*) FROM serve_queue WHERE state = 'queued'"));
  c.queued = queued ? std::stoll(*queued) : 0;
  auto stages = TRY(db.prepare(
      "SELECT status, cached, COUNT(*), COALESCE(SUM(duration_ms), 0) FROM stage_results GROUP BY status, cached"));
  while (TRY(stages.step())) {
    const std::string status = stages.column_text(0);
    const bool cached = stages.column_int64(1) != 0;
    const std::int64_t n = stages.column_int64(2);
    if (cached) c.stage_cache_hits += n;
    else if (status == to_string(StageStatus::passed) || status == to_string(StageStatus::failed)) c.stage_runs += n;
    auto& [count, seconds] = c.stage_seconds[status];
    count += n;
    seconds += static_cast<double>(stages.column_int64(3)) / 1000.0;
  }
  auto steps = TRY(db.prepare("SELECT cached, COUNT(*) FROM run_build_steps GROUP BY cached"));
  while (TRY(steps.step())) (steps.column_int64(0) ? c.step_cache_hits : c.step_runs) += steps.column_int64(1);
  return c;
}

Result<std::int64_t> RunQueue::data_version() {
  auto v = TRY(store_.db().query_text("PRAGMA data_version"));
  return v ? std::stoll(*v) : 0;
}

}  // namespace gantry::cache
