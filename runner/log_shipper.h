// Ships a stage's log file into the shared record while the stage writes it
// (a fleet agent; pgstore/pg_logs.h): every `every`, what was appended since
// the last look goes up as one chunk; once more when the shipper ends, so
// the record has the whole log when the job reports. A failure to ship is a
// warning (the log is still in the agent's store), never the stage's.
// A stage's output is the pipeline's to choose: the record keeps at most
// kMaxShippedLog bytes of it, then one line saying where the rest is.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "pgstore/pg_logs.h"

namespace gantry::runner {

inline constexpr std::int64_t kMaxShippedLog = 64ll << 20;

class LogShipper {
 public:
  LogShipper(pgstore::PgLogs& logs, std::string path, std::string run_id, std::string stage, int attempt,
             std::chrono::milliseconds every = std::chrono::milliseconds(300), std::int64_t max_bytes = kMaxShippedLog);
  ~LogShipper();  // ships the rest, then stops
  LogShipper(const LogShipper&) = delete;
  LogShipper& operator=(const LogShipper&) = delete;

 private:
  void ship();

  pgstore::PgLogs& logs_;
  std::string path_, run_id_, stage_;
  int attempt_;
  std::int64_t max_bytes_;
  std::int64_t offset_ = 0;
  int seq_ = 0;
  bool warned_ = false;
  bool capped_ = false;  // kMaxShippedLog reached: nothing more is shipped
  std::jthread thread_;
};

}  // namespace gantry::runner
