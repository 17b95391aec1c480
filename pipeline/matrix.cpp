// `matrix:` on a stage: one stage per combination of the variables' values,
// named "unit [CC=gcc, OPT=-O0]", with the variables in its env; `exclude:`
// (inside the matrix, as GitHub Actions has it) removes combinations.
// `needs: unit` on another stage then means every cell of unit.
#include <algorithm>
#include <map>

#include "pipeline/parse_parts.h"

namespace gantry::pipeline {

namespace {

// A cell's name is a file name (its log) and a store key: kept well below NAME_MAX.
constexpr std::size_t kMaxCellName = 200;

bool printable(const std::string& s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// One `exclude:` element: VAR: value pairs, every VAR of the matrix and every
// value one of its values. nullopt after reporting.
std::optional<EnvList> parse_exclude(YamlReader& r, const Field& item, const MatrixDef& m) {
  auto entries = r.map(item);
  if (!entries) return std::nullopt;
  if (entries->empty()) {
    r.error(item, "an empty exclude would remove every combination; name VAR: value pairs");
    return std::nullopt;
  }
  EnvList out;
  bool ok = true;
  for (const auto& e : *entries) {
    auto var = std::find_if(m.vars.begin(), m.vars.end(), [&](const auto& v) { return v.first == e.key; });
    if (var == m.vars.end()) {
      std::vector<std::string> names;
      for (const auto& v : m.vars) names.push_back(v.first);
      std::string guess = closest_match(e.key, names);
      r.error(e.key_pos, e.path,
              "exclude names '" + e.key + "', which is no variable of the matrix" +
                  (guess.empty() ? "" : " (did you mean '" + guess + "'?)"));
      ok = false;
      continue;
    }
    auto value = r.string(e);
    if (!value) {
      ok = false;
      continue;
    }
    if (std::find(var->second.begin(), var->second.end(), *value) == var->second.end()) {
      r.error(e, "exclude: '" + *value + "' is not a value of " + e.key);
      ok = false;
      continue;
    }
    out.push_back(EnvVar{e.key, *value});
  }
  if (!ok) return std::nullopt;
  return out;
}

bool excluded(const EnvList& cell, const std::vector<EnvList>& excludes) {
  return std::any_of(excludes.begin(), excludes.end(), [&](const EnvList& ex) {
    return std::all_of(ex.begin(), ex.end(), [&](const EnvVar& v) {
      return std::any_of(cell.begin(), cell.end(), [&](const EnvVar& c) { return c == v; });
    });
  });
}

}  // namespace

std::string stage_file_name(std::string_view stage_name) {
  std::string out;
  for (char c : stage_name) {
    if (c == '/') out += "%2F";
    else if (c == '%') out += "%25";
    else out.push_back(c);
  }
  return out;
}

std::optional<MatrixDef> parse_matrix(YamlReader& r, const Field& f) {
  auto entries = r.map(f);
  if (!entries) return std::nullopt;
  MatrixDef m;
  m.pos = f.key_pos;
  m.path = f.path;
  bool ok = true;
  const Field* exclude = nullptr;
  for (const auto& e : *entries) {
    if (e.key == "exclude") {
      exclude = &e;
      continue;
    }
    if (!is_env_name(e.key)) {
      r.error(e.key_pos, e.path,
              "invalid matrix variable '" + e.key + "': expected letters, digits and '_', not starting with a digit");
      ok = false;
      continue;
    }
    if (!e.node.IsSequence()) {
      r.error(e, "matrix variable " + e.key + ": expected a list of values, got " + YamlReader::kind_name(e.node));
      ok = false;
      continue;
    }
    auto items = r.list(e);
    if (!items) {
      ok = false;
      continue;
    }
    if (items->empty()) {
      r.error(e, "matrix variable " + e.key + " has no values: the matrix would be empty");
      ok = false;
      continue;
    }
    std::vector<std::string> values;
    for (const auto& item : *items) {
      if (!item.node.IsScalar()) {
        r.error(item, "expected a value (a string or number), got " + YamlReader::kind_name(item.node));
        ok = false;
        continue;
      }
      auto v = r.string(item);
      if (!v) {
        ok = false;
        continue;
      }
      if (!printable(*v)) {
        r.error(item, "a matrix value may not hold control characters");
        ok = false;
      } else if (std::find(values.begin(), values.end(), *v) != values.end()) {
        r.error(item, "duplicate value '" + *v + "' of " + e.key);
        ok = false;
      } else {
        values.push_back(*v);
      }
    }
    m.vars.emplace_back(e.key, std::move(values));
  }
  if (m.vars.empty() && ok) {
    r.error(f, "an empty matrix: expected VAR: [values...] entries");
    return std::nullopt;
  }
  if (exclude) {
    auto items = r.list(*exclude);
    for (const auto& item : items.value_or(std::vector<Field>{})) {
      if (auto ex = parse_exclude(r, item, m)) m.excludes.push_back(std::move(*ex));
      else ok = false;
    }
    if (!items) ok = false;
  }
  if (!ok) return std::nullopt;
  std::size_t cells = 1;
  for (const auto& [name, values] : m.vars) {
    cells *= values.size();
    if (cells > kMaxMatrixCells) {
      r.error(f, "the matrix has more than " + std::to_string(kMaxMatrixCells) + " combinations");
      return std::nullopt;
    }
  }
  return m;
}

std::vector<StageDef> expand_matrix(YamlReader& r, const StageDef& stage, const MatrixDef& m) {
  std::vector<StageDef> out;
  for (const auto& e : stage.env) {
    if (std::any_of(m.vars.begin(), m.vars.end(), [&](const auto& v) { return v.first == e.name; })) {
      r.error(m.pos, m.path, e.name + " is set by both the stage's env and its matrix");
      return out;
    }
  }
  // Row-major: the first variable changes slowest, cells in the order written.
  std::vector<std::size_t> index(m.vars.size(), 0);
  while (true) {
    EnvList cell;
    for (std::size_t i = 0; i < m.vars.size(); ++i) cell.push_back(EnvVar{m.vars[i].first, m.vars[i].second[index[i]]});
    if (!excluded(cell, m.excludes)) {
      StageDef s = stage;
      s.matrix_of = stage.name;
      s.matrix = cell;
      s.name = stage.name + " [";
      for (std::size_t i = 0; i < cell.size(); ++i) s.name += (i ? ", " : "") + cell[i].name + "=" + cell[i].value;
      s.name += "]";
      if (s.name.size() > kMaxCellName) {
        r.error(m.pos, m.path, "the cell name '" + s.name.substr(0, 60) + "...' is longer than " +
                                   std::to_string(kMaxCellName) + " characters: use shorter values");
        return {};
      }
      for (const auto& v : cell) s.env.push_back(v);
      out.push_back(std::move(s));
    }
    std::size_t i = m.vars.size();
    while (i > 0 && ++index[i - 1] == m.vars[i - 1].second.size()) index[--i] = 0;
    if (i == 0) break;
  }
  if (out.empty()) r.error(m.pos, m.path, "exclude removes every combination: the matrix is empty");
  return out;
}

void expand_matrix_needs(Pipeline& p) {
  std::map<std::string, std::vector<std::string>> cells;
  for (const auto& s : p.stages)
    if (!s.matrix_of.empty()) cells[s.matrix_of].push_back(s.name);
  if (cells.empty()) return;
  for (auto& s : p.stages) {
    std::vector<std::string> needs;
    std::vector<SourcePos> pos;
    for (std::size_t i = 0; i < s.needs.size(); ++i) {
      auto it = cells.find(s.needs[i]);
      const std::vector<std::string> one{s.needs[i]};
      for (const auto& name : it == cells.end() ? one : it->second) {
        if (std::find(needs.begin(), needs.end(), name) != needs.end()) continue;
        needs.push_back(name);
        pos.push_back(i < s.needs_pos.size() ? s.needs_pos[i] : s.pos);
      }
    }
    s.needs = std::move(needs);
    s.needs_pos = std::move(pos);
  }
}

}  // namespace gantry::pipeline
