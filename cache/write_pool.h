// Private to cache/: a few threads that run queued jobs (the unpacker's file
// writes: creating a file and writing its bytes is kernel work that
// parallelises across cores, while reading the tar cannot). The producer
// queues a job with its cost in bytes; it blocks while the queued bytes are
// over the budget. wait() blocks until every queued job has run and returns
// the first error any of them returned (later jobs still run; their errors
// are dropped). The destructor waits too.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/error.h"

namespace gantry::cache {

class WritePool {
 public:
  WritePool(int threads, std::size_t budget_bytes);
  ~WritePool();
  WritePool(const WritePool&) = delete;
  WritePool& operator=(const WritePool&) = delete;

  void submit(std::function<Status()> job, std::size_t bytes);
  Status wait();

 private:
  struct Job {
    std::function<Status()> run;
    std::size_t bytes;
  };
  void work();

  std::mutex mu_;
  std::condition_variable has_job_, has_room_, idle_;
  std::deque<Job> queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t running_ = 0;
  std::size_t budget_;
  bool stop_ = false;
  std::optional<Error> error_;
  std::vector<std::thread> threads_;
};

}  // namespace gantry::cache
