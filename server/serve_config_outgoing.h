// The serve.yml keys of issue 19's outgoing side and schedules
// (notifications, commit_status, outgoing, schedules): parsed here so that
// serve_config.cpp only dispatches to them. Errors name file:line:col and the key.
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>

#include "common/error.h"
#include "server/serve_config.h"

namespace gantry::server {

Status parse_notifications(const std::string& path, const YAML::Node& node, const std::string& key, ServeConfig& config);
Status parse_commit_status(const std::string& path, const YAML::Node& node, const std::string& key, ServeConfig& config);
Status parse_outgoing(const std::string& path, const YAML::Node& node, const std::string& key, ServeConfig& config);
Status parse_schedules(const std::string& path, const YAML::Node& node, const std::string& key, ServeConfig& config);

// The checks that need the whole configuration (flags included): every
// schedule names a configured repository; names are unique.
Status check_schedules(const ServeConfig& config);

}  // namespace gantry::server
