#include "runner/stage_key.h"

#include "cache/step_key.h"

namespace gantry::runner {

Digest stage_key(const nlohmann::json& record) { return cache::typed_digest("gantry stage key", record); }

nlohmann::json stage_key_record(const pipeline::StageDef& stage, const std::string& image_digest,
                                const std::string& environment, const nlohmann::json& workspace_identity,
                                const std::map<std::string, std::string>& need_keys,
                                const std::map<std::string, std::string>& secret_digests,
                                const std::map<std::string, std::string>& service_digests) {
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
  if (!stage.junit_reports.empty()) def["reports"] = {{"junit", stage.junit_reports}};
  if (!stage.services.empty()) {
    nlohmann::json services = nlohmann::json::array();
    for (const auto& svc : stage.services) {
      nlohmann::json svc_env = nlohmann::json::array();
      for (const auto& e : svc.env) svc_env.push_back({e.name, e.value});
      auto digest = service_digests.find(svc.name);
      services.push_back({
          {"name", svc.name},
          {"image", digest == service_digests.end() ? nlohmann::json() : nlohmann::json(digest->second)},
          {"command", svc.command},
          {"env", svc_env},
          {"ready",
           {{"kind", std::string(pipeline::to_string(svc.ready.kind))},
            {"port", svc.ready.port},
            {"url", svc.ready.url},
            {"argv", svc.ready.argv},
            {"text", svc.ready.text}}},
          {"timeout_ms", svc.timeout.count()},
      });
    }
    def["services"] = services;
  }
  nlohmann::json needs = nlohmann::json::object();
  for (const auto& [name, key] : need_keys) needs[name] = key;
  return {
      {"format", kStageKeyFormat}, {"image", image_digest}, {"stage", def},
      {"environment", environment}, {"workspace", workspace_identity}, {"needs", needs},
  };
}

}  // namespace gantry::runner
