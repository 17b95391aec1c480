// Runs a DAG of named tasks on up to `jobs` threads: a task starts once every
// need inside the set has passed; when one fails (and its failure is not
// allowed), every task that needs it, directly or not, is skipped, while
// independent tasks run to the end (fail fast without cancelling bystanders).
// Needs naming tasks outside the set count as satisfied (stages of an earlier
// environment, which passed before this set started).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"

namespace gantry::runner {

enum class TaskOutcome {
  passed,          // done; dependants may start
  failed,          // dependants are skipped; the set has failed
  failed_allowed,  // failed, but allow_failure: dependants still start
};

struct DagTask {
  std::string name;
  std::vector<std::string> needs;
};

struct ScheduleResult {
  std::map<std::string, TaskOutcome> outcomes;  // for tasks that ran
  std::map<std::string, std::string> skipped;   // name -> the failed task that caused it
  bool failed = false;                          // some task failed (not allowed) or was skipped
};

// `run_task(name)` is called from a worker thread; it must not throw.
// `on_skip(name, failed_need)` is called (from any thread) as each task is skipped.
// invalid_input on a cycle; the set is validated before anything runs.
Result<ScheduleResult> run_dag(const std::vector<DagTask>& tasks, unsigned jobs,
                               const std::function<TaskOutcome(const std::string&)>& run_task,
                               const std::function<void(const std::string&, const std::string&)>& on_skip);

}  // namespace gantry::runner
