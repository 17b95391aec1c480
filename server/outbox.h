// The server's outgoing messages (notifications, commit statuses): a bounded
// queue and background workers, so that a slow or dead receiver never blocks
// a run, the run supervisor or an HTTP handler. push() only queues (or drops,
// counted and logged, when the queue is full); workers POST, and retry a
// failure that is worth it (no response, 408, 429, 5xx) with exponential
// backoff (backoff, 2x, 4x, ... up to max_backoff) until `attempts` are used.
// One message at a time per receiver (URL origin), so a receiver that hangs
// until the timeout holds one worker, and the others keep delivering.
// Messages with the same `coalesce` key (a run's commit status) are sent in
// order and a newer one replaces a queued older one: the forge gets the
// latest state, never an old one after it.
//
// Logs name the message's kind and the URL's origin only: never a header
// (tokens), a body or a URL path (a chat webhook's secret is in its path).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/http_post.h"

namespace gantry::server {

struct OutgoingMessage {
  std::string kind;                  // "notification run_finished", "commit status github", ... (logs)
  std::string url;
  std::vector<std::string> headers;  // "Name: value"; may carry a token
  std::string body;
  std::string coalesce;              // "" = independent
};

struct OutboxOptions {
  std::size_t capacity = 1000;  // queued messages; more are dropped
  int attempts = 5;             // per message, the first included
  std::chrono::milliseconds backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
  std::chrono::milliseconds timeout{10000};  // one attempt, connect included
  int workers = 4;
};

struct OutboxCounters {
  std::uint64_t queued = 0;     // accepted by push()
  std::uint64_t sent = 0;       // delivered (2xx)
  std::uint64_t retried = 0;    // attempts after a failure
  std::uint64_t failed = 0;     // given up (attempts used, or a 4xx)
  std::uint64_t dropped = 0;    // refused by push(): the queue was full
  std::uint64_t replaced = 0;   // a queued message superseded by a newer one of its key
};

class Outbox {
 public:
  using Post = std::function<PostResult(const OutgoingMessage&, std::chrono::milliseconds timeout)>;
  explicit Outbox(OutboxOptions options, Post post = {});
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Queues the message; false (and counted, logged) when the queue is full.
  bool push(OutgoingMessage message);
  OutboxCounters counters();
  // Waits until nothing is queued or in flight; false on timeout.
  bool idle_within(std::chrono::milliseconds timeout);
  // Ends the workers after their current attempt; queued messages are lost.
  void stop();

 private:
  struct Item {
    OutgoingMessage message;
    int attempt = 0;  // attempts made
    std::chrono::steady_clock::time_point due;
  };
  void work(std::stop_token stop);
  void finish(Item item, const PostResult& result);

  const OutboxOptions options_;
  const Post post_;
  std::mutex mutex_;
  std::condition_variable_any cv_;
  std::condition_variable idle_cv_;
  std::deque<Item> queue_;
  std::set<std::string> in_flight_;  // coalesce keys and receivers' origins being sent to
  int busy_ = 0;
  std::uint64_t version_ = 0;  // moves on every change of queue_ or in_flight_ (wakes workers)
  OutboxCounters counters_;
  std::vector<std::jthread> workers_;
};

}  // namespace gantry::server
