#include "common/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace gantry {

Status for_each_parallel(std::size_t count, int threads, const std::function<Status(std::size_t)>& fn) {
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::optional<Error> first_error;
  auto worker = [&] {
    while (!stop) {
      std::size_t i = next++;
      if (i >= count) return;
      Status st = [&]() -> Status {
        try {
          return fn(i);
        } catch (const std::exception& e) {
          return fail(ErrorKind::internal, std::string("unexpected exception: ") + e.what());
        }
      }();
      if (!st) {
        std::lock_guard lock(mutex);
        if (!first_error) first_error = st.error();
        stop = true;
      }
    }
  };
  std::size_t n = std::min<std::size_t>(count, static_cast<std::size_t>(std::max(threads, 1)));
  if (n <= 1) {
    worker();
  } else {
    std::vector<std::jthread> pool;
    for (std::size_t t = 0; t < n; ++t) pool.emplace_back(worker);
  }
  if (first_error) return fail(*first_error);
  return {};
}

}  // namespace gantry
