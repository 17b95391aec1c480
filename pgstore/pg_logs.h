// Stage logs in the shared record (issue 17): an agent ships a stage's log
// into PostgreSQL in chunks as the stage writes it, so `gantry logs` and a
// followed `gantry run --db` read it from any host. A chunk is bytes (BYTEA:
// a log need not be UTF-8), numbered within (run, stage, attempt); the
// latest attempt is the stage's log.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "pgstore/pg_conn.h"

namespace gantry::pgstore {

struct LogChunk {
  int attempt = 0;
  int seq = 0;
  std::string bytes;
};

class PgLogs {
 public:
  explicit PgLogs(PgConn& conn) : conn_(conn) {}

  // Stores chunk `seq` of the log; storing the same chunk again is a no-op.
  Status append(const std::string& run_id, const std::string& stage, int attempt, int seq, const std::string& bytes);
  // The chunks of `attempt` (0: the latest) after `after_seq` (-1: all), in order.
  Result<std::vector<LogChunk>> chunks(const std::string& run_id, const std::string& stage, int attempt = 0,
                                       int after_seq = -1);
  // The whole log of the latest attempt; nullopt when none was shipped.
  Result<std::optional<std::string>> log(const std::string& run_id, const std::string& stage);

 private:
  PgConn& conn_;
};

}  // namespace gantry::pgstore
