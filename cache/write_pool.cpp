#include "cache/write_pool.h"

#include <exception>
#include <string>

namespace gantry::cache {

WritePool::WritePool(int threads, std::size_t budget_bytes) : budget_(budget_bytes) {
  for (int i = 0; i < std::max(threads, 1); ++i) threads_.emplace_back([this] { work(); });
}

WritePool::~WritePool() {
  (void)wait();
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  has_job_.notify_all();
  for (auto& t : threads_) t.join();
}

void WritePool::submit(std::function<Status()> job, std::size_t bytes) {
  std::unique_lock lock(mu_);
  // One job over the budget alone still goes (when nothing else is queued).
  has_room_.wait(lock, [&] { return queued_bytes_ == 0 || queued_bytes_ + bytes <= budget_; });
  queue_.push_back({std::move(job), bytes});
  queued_bytes_ += bytes;
  has_job_.notify_one();
}

Status WritePool::wait() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [&] { return queue_.empty() && running_ == 0; });
  if (error_) {
    Error e = *error_;
    error_.reset();
    return fail(std::move(e));
  }
  return {};
}

void WritePool::work() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      has_job_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_
      job = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    Status st = [&]() -> Status {
      try {
        return job.run();
      } catch (const std::exception& e) {
        return fail(ErrorKind::internal, std::string("unexpected exception: ") + e.what());
      }
    }();
    {
      std::lock_guard lock(mu_);
      --running_;
      queued_bytes_ -= job.bytes;
      if (!st && !error_) error_ = st.error();
      if (queue_.empty() && running_ == 0) idle_.notify_all();
    }
    has_room_.notify_all();
  }
}

}  // namespace gantry::cache
