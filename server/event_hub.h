// The /events stream: every run, stage, queue and promotion change is one
// server-sent event, numbered, sent to every follower. The last events are
// kept so a follower that reconnects with Last-Event-ID misses none.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/http.h"

namespace gantry::server {

class EventHub {
 public:
  // Sends the event (type "run", "stage", "promotion", ...) to every follower.
  void publish(const std::string& type, const nlohmann::json& data);
  // Adds a follower; first sends it the kept events after `last_id` (0: none).
  void follow(std::shared_ptr<SseStream> stream, std::int64_t last_id);
  std::size_t followers();
  std::int64_t last_id();
  // Ends every follower's stream (server shutdown).
  void close_all();

  // In-process listeners (notifications, commit statuses), called on every
  // publish after the followers, on the publishing thread, possibly with
  // meta.db's mutex held: a listener only queues work, never touches meta.db.
  // Add them before the server starts.
  using Listener = std::function<void(const std::string& type, const nlohmann::json& data)>;
  void listen(Listener listener);

 private:
  std::mutex mutex_;
  std::int64_t next_id_ = 1;
  std::deque<std::pair<std::int64_t, std::string>> kept_;  // id -> framed event
  std::vector<std::weak_ptr<SseStream>> followers_;
  std::vector<Listener> listeners_;
};

}  // namespace gantry::server
