#include "runner/stage_scheduler.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "pipeline/dag.h"

namespace gantry::runner {

Result<ScheduleResult> run_dag(const std::vector<DagTask>& tasks, unsigned jobs,
                               const std::function<TaskOutcome(const std::string&)>& run_task,
                               const std::function<void(const std::string&, const std::string&)>& on_skip) {
  if (jobs == 0) jobs = 1;
  std::set<std::string> names;
  std::vector<pipeline::DagNode> nodes;
  for (const auto& t : tasks) {
    names.insert(t.name);
    nodes.push_back({t.name, t.needs});
  }
  TRY(pipeline::topo_order(nodes, "stages"));

  // Needs inside the set only; `waiting_on[t]` counts the ones not yet passed.
  std::map<std::string, std::vector<std::string>> dependants;
  std::map<std::string, std::size_t> waiting_on;
  for (const auto& t : tasks) {
    std::set<std::string> inside;
    for (const auto& n : t.needs)
      if (names.count(n) && n != t.name) inside.insert(n);
    waiting_on[t.name] = inside.size();
    for (const auto& n : inside) dependants[n].push_back(t.name);
  }

  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::string> ready;
  for (const auto& t : tasks)
    if (waiting_on[t.name] == 0) ready.push_back(t.name);
  ScheduleResult result;
  std::size_t done = 0, running = 0;
  std::vector<std::jthread> workers;

  // With the lock held: every transitive dependant of `failed` is skipped.
  auto skip_dependants = [&](const std::string& failed) {
    std::deque<std::string> todo(dependants[failed].begin(), dependants[failed].end());
    while (!todo.empty()) {
      std::string name = todo.front();
      todo.pop_front();
      if (result.skipped.count(name) || result.outcomes.count(name)) continue;
      result.skipped[name] = failed;
      ++done;
      on_skip(name, failed);
      for (const auto& d : dependants[name]) todo.push_back(d);
    }
  };

  std::unique_lock lock(mutex);
  while (done < tasks.size()) {
    while (running < jobs && !ready.empty()) {
      std::string name = ready.front();
      ready.pop_front();
      if (result.skipped.count(name)) continue;
      ++running;
      workers.emplace_back([&, name] {
        TaskOutcome outcome = run_task(name);
        std::lock_guard guard(mutex);
        --running;
        ++done;
        result.outcomes[name] = outcome;
        if (outcome == TaskOutcome::failed) {
          result.failed = true;
          skip_dependants(name);
        } else {
          for (const auto& d : dependants[name])
            if (--waiting_on[d] == 0 && !result.skipped.count(d)) ready.push_back(d);
        }
        changed.notify_all();
      });
    }
    if (done >= tasks.size()) break;
    changed.wait(lock);
  }
  lock.unlock();
  workers.clear();  // joins
  if (!result.skipped.empty()) result.failed = true;
  return result;
}

}  // namespace gantry::runner
