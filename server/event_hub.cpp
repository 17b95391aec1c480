#include "server/event_hub.h"

#include <algorithm>

namespace gantry::server {

namespace {
constexpr std::size_t kKept = 1000;
}

void EventHub::publish(const std::string& type, const nlohmann::json& data) {
  std::vector<std::shared_ptr<SseStream>> targets;
  std::string framed;
  {
    std::lock_guard lock(mutex_);
    const std::int64_t id = next_id_++;
    framed = sse_event(type, data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), id);
    kept_.emplace_back(id, framed);
    if (kept_.size() > kKept) kept_.pop_front();
    std::erase_if(followers_, [&](const std::weak_ptr<SseStream>& w) {
      auto s = w.lock();
      if (!s || s->closed()) return true;
      targets.push_back(std::move(s));
      return false;
    });
  }
  for (auto& s : targets) s->send(framed);
  std::vector<Listener> listeners;
  {
    std::lock_guard lock(mutex_);
    listeners = listeners_;
  }
  for (const auto& l : listeners) l(type, data);
}

void EventHub::listen(Listener listener) {
  std::lock_guard lock(mutex_);
  listeners_.push_back(std::move(listener));
}

void EventHub::follow(std::shared_ptr<SseStream> stream, std::int64_t last_id) {
  std::lock_guard lock(mutex_);
  // The client learns where the numbering stands even when nothing happens.
  stream->send("retry: 2000\n: gantry events, last id " + std::to_string(next_id_ - 1) + "\n\n");
  if (last_id > 0)
    for (const auto& [id, framed] : kept_)
      if (id > last_id) stream->send(framed);
  followers_.push_back(stream);
}

std::size_t EventHub::followers() {
  std::lock_guard lock(mutex_);
  std::erase_if(followers_, [](const std::weak_ptr<SseStream>& w) {
    auto s = w.lock();
    return !s || s->closed();
  });
  return followers_.size();
}

std::int64_t EventHub::last_id() {
  std::lock_guard lock(mutex_);
  return next_id_ - 1;
}

void EventHub::close_all() {
  std::vector<std::shared_ptr<SseStream>> all;
  {
    std::lock_guard lock(mutex_);
    for (auto& w : followers_)
      if (auto s = w.lock()) all.push_back(std::move(s));
    followers_.clear();
  }
  for (auto& s : all) s->finish();
}

}  // namespace gantry::server
