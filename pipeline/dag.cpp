#include "pipeline/dag.h"

#include <algorithm>
#include <functional>
#include <map>

namespace gantry::pipeline {

namespace {

// Index of every node by name; deps resolved to indexes (unknown names dropped).
std::vector<std::vector<std::size_t>> resolve(const std::vector<DagNode>& nodes) {
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < nodes.size(); ++i) index.emplace(nodes[i].name, i);
  std::vector<std::vector<std::size_t>> deps(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i)
    for (const auto& d : nodes[i].deps)
      if (auto it = index.find(d); it != index.end()) deps[i].push_back(it->second);
  return deps;
}

}  // namespace

std::optional<std::vector<std::string>> find_cycle(const std::vector<DagNode>& nodes) {
  auto deps = resolve(nodes);
  enum Color { white, grey, black };
  std::vector<Color> color(nodes.size(), white);
  std::vector<std::size_t> stack;
  std::optional<std::vector<std::string>> cycle;

  std::function<bool(std::size_t)> visit = [&](std::size_t n) -> bool {
    color[n] = grey;
    stack.push_back(n);
    for (std::size_t d : deps[n]) {
      if (color[d] == grey) {
        auto from = std::find(stack.begin(), stack.end(), d);
        std::vector<std::string> names;
        for (auto it = from; it != stack.end(); ++it) names.push_back(nodes[*it].name);
        names.push_back(nodes[d].name);
        cycle = std::move(names);
        return true;
      }
      if (color[d] == white && visit(d)) return true;
    }
    stack.pop_back();
    color[n] = black;
    return false;
  };
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (color[i] == white && visit(i)) return cycle;
  return std::nullopt;
}

std::string format_cycle(const std::vector<std::string>& cycle) {
  std::string out;
  for (std::size_t i = 0; i < cycle.size(); ++i) out += (i ? " → " : "") + cycle[i];
  return out;
}

Result<DagOrder> topo_order(const std::vector<DagNode>& nodes, const std::string& what) {
  if (auto cycle = find_cycle(nodes))
    return fail(ErrorKind::invalid_input, "cycle between " + what + ": " + format_cycle(*cycle));
  auto deps = resolve(nodes);
  // level(n) = 1 + max level of its deps; memoised DFS (acyclic here).
  std::vector<int> level(nodes.size(), -1);
  std::function<int(std::size_t)> level_of = [&](std::size_t n) -> int {
    if (level[n] >= 0) return level[n];
    int l = 0;
    for (std::size_t d : deps[n]) l = std::max(l, level_of(d) + 1);
    return level[n] = l;
  };
  DagOrder out;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    std::size_t l = static_cast<std::size_t>(level_of(i));
    if (out.levels.size() <= l) out.levels.resize(l + 1);
    out.levels[l].push_back(nodes[i].name);
  }
  for (const auto& group : out.levels) out.order.insert(out.order.end(), group.begin(), group.end());
  return out;
}

namespace {

std::vector<DagNode> image_nodes(const Pipeline& p) {
  std::vector<DagNode> nodes;
  for (const auto& img : p.images) {
    DagNode n{img.name, {}};
    if (p.find_image(img.from)) n.deps.push_back(img.from);
    nodes.push_back(std::move(n));
  }
  return nodes;
}

std::vector<DagNode> stage_nodes(const Pipeline& p) {
  std::vector<DagNode> nodes;
  for (const auto& s : p.stages) nodes.push_back(DagNode{s.name, s.needs});
  return nodes;
}

}  // namespace

Result<DagOrder> image_order(const Pipeline& pipeline) { return topo_order(image_nodes(pipeline), "images"); }
Result<DagOrder> stage_order(const Pipeline& pipeline) { return topo_order(stage_nodes(pipeline), "stages"); }

std::optional<std::vector<std::string>> image_cycle(const Pipeline& pipeline) {
  return find_cycle(image_nodes(pipeline));
}
std::optional<std::vector<std::string>> stage_cycle(const Pipeline& pipeline) {
  return find_cycle(stage_nodes(pipeline));
}

std::vector<std::string> dependants_of(const Pipeline& pipeline, const std::string& stage) {
  std::vector<std::string> out;
  std::vector<std::string> frontier{stage};
  while (!frontier.empty()) {
    std::string cur = frontier.back();
    frontier.pop_back();
    for (const auto& s : pipeline.stages) {
      if (std::find(s.needs.begin(), s.needs.end(), cur) == s.needs.end()) continue;
      if (std::find(out.begin(), out.end(), s.name) != out.end()) continue;
      out.push_back(s.name);
      frontier.push_back(s.name);
    }
  }
  // In file order, for stable reports.
  std::vector<std::string> ordered;
  for (const auto& s : pipeline.stages)
    if (std::find(out.begin(), out.end(), s.name) != out.end()) ordered.push_back(s.name);
  return ordered;
}

}  // namespace gantry::pipeline
