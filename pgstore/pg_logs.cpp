#include "pgstore/pg_logs.h"

namespace gantry::pgstore {

namespace {

std::string to_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

int nibble(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

std::string from_hex(const std::string& hex) {
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  return out;
}

}  // namespace

Status PgLogs::append(const std::string& run_id, const std::string& stage, int attempt, int seq,
                      const std::string& bytes) {
  TRY_CTX(conn_.exec("INSERT INTO stage_log_chunks (run_id, stage, attempt, seq, chunk)"
                     " VALUES ($1, $2, $3, $4, decode($5, 'hex')) ON CONFLICT DO NOTHING",
                     {run_id, stage, attempt, seq, to_hex(bytes)}),
          "shipping the log of " + run_id + "/" + stage);
  return {};
}

Result<std::vector<LogChunk>> PgLogs::chunks(const std::string& run_id, const std::string& stage, int attempt,
                                             int after_seq) {
  auto rows = TRY(conn_.exec(
      "SELECT attempt, seq, encode(chunk, 'hex') FROM stage_log_chunks WHERE run_id = $1 AND stage = $2"
      " AND attempt = CASE WHEN $3::int > 0 THEN $3::int ELSE"
      "   (SELECT max(attempt) FROM stage_log_chunks WHERE run_id = $1 AND stage = $2) END"
      " AND seq > $4 ORDER BY seq",
      {run_id, stage, attempt, after_seq}));
  std::vector<LogChunk> out;
  for (int i = 0; i < rows.size(); ++i)
    out.push_back({static_cast<int>(rows.int64(i, 0)), static_cast<int>(rows.int64(i, 1)), from_hex(rows.text(i, 2))});
  return out;
}

Result<std::optional<std::string>> PgLogs::log(const std::string& run_id, const std::string& stage) {
  auto list = TRY(chunks(run_id, stage));
  if (list.empty()) return std::optional<std::string>();
  std::string text;
  for (const auto& c : list) text += c.bytes;
  return std::optional<std::string>(std::move(text));
}

}  // namespace gantry::pgstore
