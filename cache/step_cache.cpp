#include "cache/step_cache.h"

#include <nlohmann/json.hpp>

namespace gantry::cache {

using nlohmann::json;

std::string ConfigChange::to_json() const {
  json j = json::object();
  if (!env.empty()) {
    json list = json::array();
    for (const auto& [k, v] : env) list.push_back({k, v});
    j["env"] = std::move(list);
  }
  if (workdir) j["workdir"] = *workdir;
  if (user) j["user"] = *user;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<ConfigChange> ConfigChange::parse(const std::string& text) {
  try {
    json j = json::parse(text);
    ConfigChange c;
    if (j.contains("env"))
      for (const auto& kv : j["env"]) c.env.emplace_back(kv.at(0).get<std::string>(), kv.at(1).get<std::string>());
    if (j.contains("workdir")) c.workdir = j["workdir"].get<std::string>();
    if (j.contains("user")) c.user = j["user"].get<std::string>();
    return c;
  } catch (const json::exception& e) {
    return fail(ErrorKind::corrupt, std::string("config change is not valid JSON: ") + e.what());
  }
}

}  // namespace gantry::cache
