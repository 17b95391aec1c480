// gc's retention rule for run records and their files (runs/<id>/: logs,
// artifacts). A run is pruned when it is neither among the newest
// `keep_runs` nor younger than `keep_days`, and nothing still needs it:
// it is not running or waiting at a gate, no environment pointer names it,
// and no stage-cache entry serves its log or artifacts.
#include <cstdio>

#include "cache/metadata.h"
#include "cache/store.h"
#include "cache/store_maintenance.h"
#include "common/file_util.h"

namespace gantry::cache {

namespace {

Result<std::vector<std::string>> prunable_runs(Metadata& meta, const RetentionRule& rule, std::int64_t now_ms,
                                               std::uint64_t& kept_in_use) {
  const std::int64_t cutoff_ms = now_ms - static_cast<std::int64_t>(rule.keep_days) * 86'400'000;
  std::vector<std::string> out;
  std::uint64_t position = 0;
  for (const RunAge& run : TRY(meta.runs_by_age())) {
    ++position;
    if (position <= rule.keep_runs) continue;
    if (run.started_ms >= cutoff_ms) continue;
    if (run.in_use) {
      ++kept_in_use;
      continue;
    }
    out.push_back(run.id);
  }
  return out;
}

}  // namespace

Result<RetentionReport> prune_runs(Store& store, const RetentionRule& rule, bool dry_run, std::int64_t now_ms) {
  RetentionReport report;
  auto doomed = TRY(prunable_runs(store.metadata(), rule, now_ms, report.runs_kept_in_use));
  report.runs_pruned = doomed.size();
  if (dry_run) return report;
  // Rows first, then files: a crash in between leaves only a directory no
  // row names, which the next gc removes with the runs/ sweep below.
  if (!doomed.empty()) TRY(store.metadata().delete_runs(doomed));
  for (std::size_t i = 0; i < doomed.size(); ++i) {
    std::string dir = store.paths().run_dir(doomed[i]);
    std::string trash = store.tmp_dir() + "/gc-run-" + std::to_string(i);
    if (::rename(dir.c_str(), trash.c_str()) != 0) {
      if (errno == ENOENT) continue;  // a run that wrote no file
      return fail_sys("rename", dir);
    }
    TRY(remove_tree(trash));
  }
  // Directories of runs whose row is gone (a gc killed between its two steps).
  for (const std::string& name : TRY(list_dir(store.paths().runs_dir()))) {
    if (TRY(store.metadata().has_run(name))) continue;
    std::string trash = store.tmp_dir() + "/gc-orphan-run-" + name;
    if (::rename(store.paths().run_dir(name).c_str(), trash.c_str()) != 0) return fail_sys("rename", name);
    TRY(remove_tree(trash));
    ++report.orphan_dirs_removed;
  }
  return report;
}

}  // namespace gantry::cache
