#include "runner/log_shipper.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>


#include "common/stop_sleep.h"
#include "common/unique_fd.h"

namespace gantry::runner {

namespace {

constexpr std::size_t kMaxChunk = 256 * 1024;

}  // namespace

LogShipper::LogShipper(pgstore::PgLogs& logs, std::string path, std::string run_id, std::string stage, int attempt,
                       std::chrono::milliseconds every, std::int64_t max_bytes)
    : logs_(logs),
      path_(std::move(path)),
      run_id_(std::move(run_id)),
      stage_(std::move(stage)),
      attempt_(attempt),
      max_bytes_(max_bytes) {
  thread_ = std::jthread([this, every](std::stop_token stop) {
    while (sleep_unless_stopped(stop, every)) ship();
  });
}

LogShipper::~LogShipper() {
  thread_.request_stop();
  thread_.join();
  ship();  // what the stage wrote last
}

void LogShipper::ship() {
  if (capped_) return;
  UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return;  // not written yet
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return;
  if (st.st_size < offset_) offset_ = 0;  // written again from the start
  while (offset_ < st.st_size) {
    if (offset_ >= max_bytes_) {
      const std::string note = "\ngantry: the record keeps the first " + std::to_string(max_bytes_) +
                               " bytes of this log; the whole log is in the store of the agent that ran the stage\n";
      if (logs_.append(run_id_, stage_, attempt_, seq_, note)) capped_ = true;
      return;
    }
    std::string chunk(std::min<std::int64_t>({st.st_size - offset_, max_bytes_ - offset_,
                                              static_cast<std::int64_t>(kMaxChunk)}),
                      '\0');
    ssize_t n = ::pread(fd.get(), chunk.data(), chunk.size(), offset_);
    if (n <= 0) return;
    chunk.resize(static_cast<std::size_t>(n));
    if (auto shipped = logs_.append(run_id_, stage_, attempt_, seq_, chunk); !shipped) {
      if (!warned_) spdlog::warn("{} (it stays in this agent's store)", shipped.error().message());
      warned_ = true;
      return;  // tried again at the next look, from the same offset
    }
    ++seq_;
    offset_ += n;
  }
}

}  // namespace gantry::runner
