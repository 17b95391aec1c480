#include "server/outbox.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace gantry::server {

namespace {

std::shared_ptr<spdlog::logger> serve_log() {
  auto log = spdlog::get("serve");
  return log ? log : spdlog::default_logger();
}

}  // namespace

Outbox::Outbox(OutboxOptions options, Post post)
    : options_(options),
      post_(post ? std::move(post) : Post([](const OutgoingMessage& m, std::chrono::milliseconds timeout) {
        return http_post(m.url, m.headers, m.body, timeout);
      })) {
  for (int i = 0; i < std::max(1, options_.workers); ++i)
    workers_.emplace_back([this](std::stop_token stop) { work(stop); });
}

Outbox::~Outbox() { stop(); }

void Outbox::stop() {
  for (auto& w : workers_) w.request_stop();
  cv_.notify_all();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
}

bool Outbox::push(OutgoingMessage message) {
  {
    std::lock_guard lock(mutex_);
    if (!message.coalesce.empty()) {
      auto old = std::find_if(queue_.begin(), queue_.end(),
                              [&](const Item& i) { return i.message.coalesce == message.coalesce; });
      if (old != queue_.end()) {
        old->message = std::move(message);  // keeps its place: the order of keys stays
        old->attempt = 0;
        old->due = std::chrono::steady_clock::now();
        ++counters_.replaced;
        ++version_;
        cv_.notify_one();
        return true;
      }
    }
    if (queue_.size() >= options_.capacity) {
      const auto dropped = ++counters_.dropped;
      serve_log()->warn("{} to {}: dropped, the outgoing queue is full ({} messages; {} dropped so far)",
                        message.kind, url_origin(message.url), options_.capacity, dropped);
      return false;
    }
    ++counters_.queued;
    queue_.push_back({.message = std::move(message), .attempt = 0, .due = std::chrono::steady_clock::now()});
    ++version_;
  }
  cv_.notify_one();
  return true;
}

OutboxCounters Outbox::counters() {
  std::lock_guard lock(mutex_);
  return counters_;
}

bool Outbox::idle_within(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_cv_.wait_for(lock, timeout, [&] { return queue_.empty() && busy_ == 0; });
}

void Outbox::work(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    // The first due message whose key and receiver are not being sent to by
    // another worker: a silent receiver holds one worker, never all of them.
    const auto now = std::chrono::steady_clock::now();
    auto next_due = std::chrono::steady_clock::time_point::max();
    auto pick = queue_.end();
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (!it->message.coalesce.empty() && in_flight_.contains(it->message.coalesce)) continue;
      if (in_flight_.contains(url_origin(it->message.url))) continue;
      if (it->due <= now) {
        pick = it;
        break;
      }
      next_due = std::min(next_due, it->due);
    }
    if (pick == queue_.end()) {
      const std::uint64_t seen = version_;
      auto changed = [&] { return version_ != seen; };
      if (next_due == std::chrono::steady_clock::time_point::max()) cv_.wait(lock, stop, changed);
      else cv_.wait_until(lock, stop, next_due, changed);
      continue;
    }
    Item item = std::move(*pick);
    queue_.erase(pick);
    if (!item.message.coalesce.empty()) in_flight_.insert(item.message.coalesce);
    in_flight_.insert(url_origin(item.message.url));
    ++busy_;
    lock.unlock();
    const PostResult result = post_(item.message, options_.timeout);
    lock.lock();
    if (!item.message.coalesce.empty()) in_flight_.erase(item.message.coalesce);
    in_flight_.erase(url_origin(item.message.url));
    finish(std::move(item), result);
    --busy_;
    ++version_;
    cv_.notify_all();  // a key is free again
    if (queue_.empty() && busy_ == 0) idle_cv_.notify_all();
  }
}

// With mutex_ held.
void Outbox::finish(Item item, const PostResult& result) {
  item.attempt += 1;
  const std::string what = item.message.kind + " to " + url_origin(item.message.url);
  const std::string why = result.status ? "HTTP " + std::to_string(result.status) : result.error;
  if (result.ok()) {
    ++counters_.sent;
    if (item.attempt > 1) serve_log()->info("{}: delivered on attempt {}", what, item.attempt);
    return;
  }
  if (!result.retryable() || item.attempt >= options_.attempts) {
    ++counters_.failed;
    serve_log()->warn("{}: failed ({}), given up after {} attempt{}", what, why, item.attempt,
                      item.attempt == 1 ? "" : "s");
    return;
  }
  // A newer message of the same key came meanwhile: this one is stale.
  if (!item.message.coalesce.empty() &&
      std::any_of(queue_.begin(), queue_.end(), [&](const Item& i) { return i.message.coalesce == item.message.coalesce; })) {
    ++counters_.replaced;
    return;
  }
  auto delay = options_.backoff;
  for (int i = 1; i < item.attempt && delay < options_.max_backoff; ++i) delay *= 2;
  delay = std::min(delay, options_.max_backoff);
  ++counters_.retried;
  serve_log()->info("{}: attempt {} failed ({}); next in {} ms", what, item.attempt, why, delay.count());
  item.due = std::chrono::steady_clock::now() + delay;
  queue_.push_front(std::move(item));
}

}  // namespace gantry::server
