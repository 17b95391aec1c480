#include "runner/log_shipper.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>


#include "common/stop_sleep.h"
#include "common/unique_fd.h"

namespace gantry::runner {

namespace {

constexpr std::size_t kMaxChunk = 256 * 1024;

}  // namespace

LogShipper::LogShipper(pgstore::PgLogs& logs, std::string path, std::string run_id, std::string stage, int attempt,
                       std::chrono::milliseconds every)
    : logs_(logs), path_(std::move(path)), run_id_(std::move(run_id)), stage_(std::move(stage)), attempt_(attempt) {
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
  UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return;  // not written yet
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return;
  if (st.st_size < offset_) offset_ = 0;  // written again from the start
  while (offset_ < st.st_size) {
    std::string chunk(std::min<std::int64_t>(st.st_size - offset_, kMaxChunk), '\0');
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
