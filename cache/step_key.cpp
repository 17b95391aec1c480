#include "cache/step_key.h"

#include <set>

namespace gantry::cache {

using nlohmann::json;

namespace {

// The typed, length-prefixed encoding of a JSON value tree (see step_key.h).
void encode(const json& value, Sha256& hash) {
  auto put = [&](std::string_view s) { hash.update(s); };
  auto put_string = [&](const std::string& s) {
    put("s");
    put(std::to_string(s.size()));
    put(":");
    put(s);
  };
  switch (value.type()) {
    case json::value_t::null:
      put("n");
      break;
    case json::value_t::boolean:
      put(value.get<bool>() ? "b1" : "b0");
      break;
    case json::value_t::number_integer:
      put("i" + std::to_string(value.get<std::int64_t>()) + ";");
      break;
    case json::value_t::number_unsigned:
      put("i" + std::to_string(value.get<std::uint64_t>()) + ";");
      break;
    case json::value_t::number_float:
      put("f" + value.dump() + ";");
      break;
    case json::value_t::string:
      put_string(value.get_ref<const std::string&>());
      break;
    case json::value_t::array:
      put("a" + std::to_string(value.size()) + ":");
      for (const auto& item : value) encode(item, hash);
      break;
    case json::value_t::object:  // nlohmann's object is a std::map: sorted keys
      put("o" + std::to_string(value.size()) + ":");
      for (const auto& [k, v] : value.items()) {
        put_string(k);
        encode(v, hash);
      }
      break;
    case json::value_t::binary:
    case json::value_t::discarded:
      put("x");
      break;
  }
}

std::string show(const json& value) {
  std::string s = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 120) s = s.substr(0, 117) + "...";
  return s;
}

std::string quote(const std::string& s) { return show(json(s)); }

std::string list_names(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < 5; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 5) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

std::string diff_env(const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : b) {
    auto it = a.find(k);
    if (it == a.end()) parts.push_back(k + " added (" + quote(v) + ")");
    else if (it->second != v) parts.push_back(k + ": " + quote(it->second) + " -> " + quote(v));
  }
  for (const auto& [k, v] : a)
    if (!b.contains(k)) parts.push_back(k + " removed");
  return list_names(parts);
}

std::string diff_sources(const std::vector<StepSource>& a, const std::vector<StepSource>& b) {
  std::map<std::string, const StepSource*> before, after;
  for (const auto& s : a) before[s.path] = &s;
  for (const auto& s : b) after[s.path] = &s;
  std::vector<std::string> changed, added, removed;
  for (const auto& [path, s] : after) {
    auto it = before.find(path);
    if (it == before.end()) added.push_back(path);
    else if (!(*it->second == *s)) changed.push_back(path);
  }
  for (const auto& [path, s] : before)
    if (!after.contains(path)) removed.push_back(path);
  std::vector<std::string> parts;
  if (!changed.empty()) parts.push_back("changed: " + list_names(changed));
  if (!added.empty()) parts.push_back("added: " + list_names(added));
  if (!removed.empty()) parts.push_back("removed: " + list_names(removed));
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "; " : "") + parts[i];
  return out;
}

}  // namespace

json StepRecord::to_json() const {
  json j = json::object();
  j["format"] = format;
  j["parent"] = parent;
  j["kind"] = kind;
  j["args"] = args;
  j["env"] = env;
  j["workdir"] = workdir;
  j["user"] = user;
  j["network"] = network;
  j["epoch"] = epoch;
  if (kind == "copy" || !sources.empty()) {
    json list = json::array();
    for (const auto& s : sources) list.push_back({{"path", s.path}, {"mode", s.mode}, {"oid", s.oid}});
    j["sources"] = std::move(list);
  }
  return j;
}

std::string StepRecord::text() const { return to_json().dump(-1, ' ', false, json::error_handler_t::replace); }

Result<StepRecord> StepRecord::from_text(const std::string& text) {
  try {
    json j = json::parse(text);
    StepRecord r;
    r.format = j.at("format").get<int>();
    r.parent = j.at("parent").get<std::string>();
    r.kind = j.at("kind").get<std::string>();
    r.args = j.at("args");
    r.env = j.at("env").get<std::map<std::string, std::string>>();
    r.workdir = j.at("workdir").get<std::string>();
    r.user = j.at("user").get<std::string>();
    r.network = j.at("network").get<std::string>();
    r.epoch = j.value("epoch", std::int64_t{0});  // absent in format 1
    if (j.contains("sources")) {
      for (const auto& s : j["sources"])
        r.sources.push_back({s.at("path").get<std::string>(), s.at("mode").get<std::uint32_t>(),
                             s.at("oid").get<std::string>()});
    }
    return r;
  } catch (const json::exception& e) {
    return fail(ErrorKind::corrupt, std::string("step-key record is not valid: ") + e.what());
  }
}

std::string parent_of_step(const Digest& key) { return "step:" + key.hex(); }
std::string parent_of_image(const Digest& manifest_digest) { return "image:" + manifest_digest.str(); }

Digest typed_digest(std::string_view domain, const json& value) {
  Sha256 hash;
  hash.update(std::to_string(domain.size()) + ":");
  hash.update(domain);
  encode(value, hash);
  return hash.finish();
}

Digest step_key(const StepRecord& record) { return typed_digest("gantry step key", record.to_json()); }

std::vector<FieldChange> diff_records(const StepRecord& a, const StepRecord& b) {
  std::vector<FieldChange> out;
  auto scalar = [&](const char* field, const std::string& x, const std::string& y) {
    if (x != y) out.push_back({field, quote(x) + " -> " + quote(y)});
  };
  if (a.format != b.format)
    out.push_back({"format", std::to_string(a.format) + " -> " + std::to_string(b.format)});
  if (a.kind != b.kind) scalar("kind", a.kind, b.kind);
  if (a.args != b.args) out.push_back({"args", show(a.args) + " -> " + show(b.args)});
  if (a.env != b.env) out.push_back({"env", diff_env(a.env, b.env)});
  scalar("workdir", a.workdir, b.workdir);
  scalar("user", a.user, b.user);
  scalar("network", a.network, b.network);
  if (a.epoch != b.epoch) out.push_back({"epoch", std::to_string(a.epoch) + " -> " + std::to_string(b.epoch)});
  if (a.sources != b.sources) out.push_back({"sources", diff_sources(a.sources, b.sources)});
  if (a.parent != b.parent) {
    // Only worth naming alone: when something else changed, it explains it.
    std::string detail = a.parent.starts_with("image:") || b.parent.starts_with("image:")
                             ? "base image " + quote(a.parent) + " -> " + quote(b.parent)
                             : "an earlier step changed";
    out.push_back({"parent", detail});
  }
  return out;
}

}  // namespace gantry::cache
