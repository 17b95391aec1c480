// Dependency order of images (`from` another image of the file) and stages
// (`needs`): a topological order, groups that can run in parallel, and the
// first cycle found, named "a → b → a".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "pipeline/pipeline.h"

namespace gantry::pipeline {

struct DagNode {
  std::string name;
  std::vector<std::string> deps;  // names of other nodes; unknown names are ignored
};

struct DagOrder {
  // Every node, each after all its dependencies; ties keep input order.
  std::vector<std::string> order;
  // levels[0] has no dependencies, levels[i] depends only on levels < i: the
  // nodes of one level can run in parallel.
  std::vector<std::vector<std::string>> levels;
};

// A cycle as the list of names along it, first name repeated at the end
// ({"a", "b", "a"}); nullopt when there is none. Deterministic: the first
// cycle reachable in input order.
std::optional<std::vector<std::string>> find_cycle(const std::vector<DagNode>& nodes);
// "a → b → a"
std::string format_cycle(const std::vector<std::string>& cycle);

// invalid_input "cycle between WHAT: a → b → a" when there is a cycle.
Result<DagOrder> topo_order(const std::vector<DagNode>& nodes, const std::string& what);

// Images in build order (an image after the image of the file it is `from`).
Result<DagOrder> image_order(const Pipeline& pipeline);
// Stages in `needs` order.
Result<DagOrder> stage_order(const Pipeline& pipeline);

// The first cycle between images (`from`) or stages (`needs`), if any.
std::optional<std::vector<std::string>> image_cycle(const Pipeline& pipeline);
std::optional<std::vector<std::string>> stage_cycle(const Pipeline& pipeline);

// Names of the stages that need `stage`, directly or not (fail-fast skipping).
std::vector<std::string> dependants_of(const Pipeline& pipeline, const std::string& stage);

}  // namespace gantry::pipeline
