#include "runner/stage_key.h"

namespace gantry::runner {

namespace {

void encode(Sha256& h, const nlohmann::json& v) {
  auto str = [&](char tag, const std::string& s) {
    std::string head = std::string(1, tag) + std::to_string(s.size()) + ":";
    h.update(head);
    h.update(s);
  };
  switch (v.type()) {
    case nlohmann::json::value_t::null: h.update("n"); break;
    case nlohmann::json::value_t::boolean: h.update(v.get<bool>() ? "t" : "f"); break;
    case nlohmann::json::value_t::number_integer: str('i', std::to_string(v.get<std::int64_t>())); break;
    case nlohmann::json::value_t::number_unsigned: str('i', std::to_string(v.get<std::uint64_t>())); break;
    case nlohmann::json::value_t::number_float: str('d', v.dump()); break;
    case nlohmann::json::value_t::string: str('s', v.get<std::string>()); break;
    case nlohmann::json::value_t::array:
      h.update("a" + std::to_string(v.size()) + ":");
      for (const auto& item : v) encode(h, item);
      break;
    case nlohmann::json::value_t::object:  // nlohmann keeps keys sorted
      h.update("o" + std::to_string(v.size()) + ":");
      for (const auto& [key, item] : v.items()) {
        str('k', key);
        encode(h, item);
      }
      break;
    default: str('x', v.dump()); break;
  }
}

}  // namespace

Digest typed_json_digest(const nlohmann::json& value) {
  Sha256 h;
  encode(h, value);
  return h.finish();
}

nlohmann::json stage_key_record(const pipeline::StageDef& stage, const std::string& image_digest,
                                const std::string& environment, const nlohmann::json& workspace_identity,
                                const std::map<std::string, std::string>& need_keys,
                                const std::map<std::string, std::string>& secret_digests) {
  nlohmann::json env = nlohmann::json::array();
  for (const auto& e : stage.env) env.push_back({e.name, e.value});
  nlohmann::json secrets = nlohmann::json::array();
  for (const auto& s : stage.secrets) {
    auto it = secret_digests.find(s.name);
    secrets.push_back({s.name, it == secret_digests.end() ? nlohmann::json() : nlohmann::json(it->second)});
  }
  nlohmann::json limits = nlohmann::json::object();
  if (stage.limits.memory) limits["memory"] = *stage.limits.memory;
  if (stage.limits.pids) limits["pids"] = *stage.limits.pids;
  if (stage.limits.cpus) limits["cpus_milli"] = static_cast<std::int64_t>(*stage.limits.cpus * 1000 + 0.5);
  if (stage.limits.tmpfs) limits["tmpfs"] = *stage.limits.tmpfs;
  if (stage.limits.disk) limits["disk"] = *stage.limits.disk;
  nlohmann::json def = {
      {"name", stage.name},
      {"script", stage.script()},
      {"env", env},
      {"secrets", secrets},
      {"timeout_ms", stage.timeout ? nlohmann::json(stage.timeout->count()) : nlohmann::json()},
      {"limits", limits},
      {"network", std::string(pipeline::to_string(stage.network))},
      {"artifacts", stage.artifacts},
      {"workspace", stage.workspace},
  };
  nlohmann::json needs = nlohmann::json::object();
  for (const auto& [name, key] : need_keys) needs[name] = key;
  return {
      {"format", kStageKeyFormat}, {"image", image_digest}, {"stage", def},
      {"environment", environment}, {"workspace", workspace_identity}, {"needs", needs},
  };
}

}  // namespace gantry::runner
