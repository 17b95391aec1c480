// An image's `steps:` list: each element a mapping with exactly one kind key
// (run, copy, env, workdir, user) and the options of that kind.
#include <algorithm>
#include <charconv>
#include <sstream>

#include "pipeline/parse_parts.h"
#include "pipeline/path_filter.h"

namespace gantry::pipeline {

namespace {

const std::vector<std::string> kKinds = {"run", "copy", "env", "workdir", "user"};
const std::vector<std::string> kStepKeys = {"run", "copy", "env", "workdir", "user", "network", "chmod", "chown", "caches"};

std::optional<std::uint32_t> parse_chmod(YamlReader& r, const Field& f) {
  auto s = r.non_empty_string(f);
  if (!s) return std::nullopt;
  std::uint32_t v = 0;
  auto [ptr, ec] = std::from_chars(s->data(), s->data() + s->size(), v, 8);
  if (ec != std::errc() || ptr != s->data() + s->size() || v > 07777) {
    r.error(f, "expected octal permission bits like 0755 or 644, got '" + *s + "'");
    return std::nullopt;
  }
  return v;
}

std::optional<Owner> parse_chown(YamlReader& r, const Field& f) {
  auto s = r.non_empty_string(f);
  if (!s) return std::nullopt;
  auto number = [](std::string_view t, std::uint32_t& out) {
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    return !t.empty() && ec == std::errc() && ptr == t.data() + t.size();
  };
  std::string_view text = *s;
  auto colon = text.find(':');
  Owner o;
  bool ok = number(text.substr(0, colon), o.uid);
  if (colon == std::string_view::npos) o.gid = o.uid;
  else ok = ok && number(text.substr(colon + 1), o.gid);
  if (!ok) {
    r.error(f, "expected numeric UID[:GID] like 1000:1000, got '" + *s + "'");
    return std::nullopt;
  }
  return o;
}

// "src/ lib/*.c /app/" → sources + dest; or a list whose last element is dest.
bool parse_copy(YamlReader& r, const Field& f, Step& step, const std::string& base_dir) {
  std::vector<std::string> words;
  if (f.node.IsScalar()) {
    std::istringstream in(f.node.Scalar());
    for (std::string w; in >> w;) words.push_back(w);
  } else if (f.node.IsSequence()) {
    auto list = r.string_list(f);
    if (!list) return false;
    words = *list;
  } else {
    r.error(f, "expected 'SOURCE... DEST' or a list [SOURCE..., DEST], got " + YamlReader::kind_name(f.node));
    return false;
  }
  if (words.size() < 2) {
    r.error(f, "expected at least one source and a destination ('SOURCE... DEST')");
    return false;
  }
  step.dest = words.back();
  words.pop_back();
  bool ok = true;
  if (!step.dest.starts_with('/')) {
    r.error(f, "copy destination must be an absolute path in the image, got '" + step.dest + "'");
    ok = false;
  }
  bool included = false;
  for (const auto& src : words) {
    if (is_exclude(src)) {
      auto pattern = exclude_tree_pattern(base_dir, src);
      if (!included) r.error(f, "'" + src + "' excludes from nothing: an exclude (!pattern) removes what the sources before it include; put it after them");
      else if (!pattern) r.error(f, "exclude '" + src + "' is empty or leaves the repository");
      if (!included || !pattern) {
        ok = false;
        continue;
      }
      step.sources.push_back(src);
      step.tree_sources.push_back(*pattern);
      continue;
    }
    included = true;
    auto tree = normalize_tree_path(base_dir, src);
    if (!tree) {
      r.error(f, "copy source '" + src + "' leaves the repository");
      ok = false;
      continue;
    }
    step.sources.push_back(src);
    step.tree_sources.push_back(*tree);
  }
  return ok;
}

}  // namespace

std::vector<Step> parse_steps(YamlReader& r, const Field& field, const std::string& base_dir) {
  std::vector<Step> steps;
  auto items = r.list(field);
  if (!items) return steps;
  for (const auto& item : *items) {
    if (!item.node.IsMap()) {
      r.error(item, "expected a step (a mapping with one of run, copy, env, workdir, user), got " +
                        YamlReader::kind_name(item.node));
      continue;
    }
    auto entries = r.map(item, kStepKeys);
    if (!entries) continue;
    std::vector<const Field*> kinds;
    for (const auto& e : *entries)
      if (std::find(kKinds.begin(), kKinds.end(), e.key) != kKinds.end()) kinds.push_back(&e);
    // `env` is a step of its own, or the per-step env of a run step.
    if (kinds.size() > 1)
      std::erase_if(kinds, [](const Field* f) { return f->key == "env"; });
    if (kinds.size() != 1) {
      std::string msg = kinds.empty() ? "a step needs one of run, copy, env, workdir, user"
                                      : "a step has exactly one of run, copy, env, workdir, user; found '" +
                                            kinds[0]->key + "' and '" + kinds[1]->key + "'";
      r.error(kinds.empty() ? YamlReader::pos(item) : kinds[1]->key_pos, item.path, msg);
      continue;
    }
    const Field& kf = *kinds[0];
    Step step;
    step.pos = kf.key_pos;
    bool ok = true;
    if (kf.key == "run") {
      step.kind = StepKind::run;
      if (kf.node.IsScalar()) {
        auto s = r.non_empty_string(kf);
        ok = s.has_value();
        if (s) step.script = *s;
      } else {
        auto argv = r.string_or_list(kf);
        ok = argv.has_value();
        if (argv) step.argv = *argv;
      }
    } else if (kf.key == "copy") {
      step.kind = StepKind::copy;
      ok = parse_copy(r, kf, step, base_dir);
    } else if (kf.key == "env") {
      step.kind = StepKind::env;
      auto env = r.env(kf);
      ok = env.has_value();
      if (env) step.env = *env;
    } else if (kf.key == "workdir") {
      step.kind = StepKind::workdir;
      auto v = r.absolute_path(kf);
      ok = v.has_value();
      if (v) step.value = *v;
    } else {
      step.kind = StepKind::user;
      auto v = r.non_empty_string(kf);
      ok = v.has_value();
      if (v) step.value = *v;
    }
    for (const auto& e : *entries) {
      if (&e == &kf) continue;
      auto only_for = [&](StepKind k) {
        if (step.kind == k) return true;
        r.error(e.key_pos, e.path, "'" + e.key + "' applies to " + std::string(to_string(k)) + " steps only");
        ok = false;
        return false;
      };
      if (e.key == "network") {
        if (!only_for(StepKind::run)) continue;
        if (auto v = r.network(e)) step.network = *v;
        else ok = false;
      } else if (e.key == "env") {
        if (!only_for(StepKind::run)) continue;
        if (auto v = r.env(e)) step.env = *v;
        else ok = false;
      } else if (e.key == "caches") {
        if (!only_for(StepKind::run)) continue;
        step.caches = parse_caches(r, e);
      } else if (e.key == "chmod") {
        if (!only_for(StepKind::copy)) continue;
        if (auto v = parse_chmod(r, e)) step.chmod = *v;
        else ok = false;
      } else if (e.key == "chown") {
        if (!only_for(StepKind::copy)) continue;
        if (auto v = parse_chown(r, e)) step.chown = *v;
        else ok = false;
      }
    }
    if (ok) steps.push_back(std::move(step));
  }
  return steps;
}

}  // namespace gantry::pipeline
