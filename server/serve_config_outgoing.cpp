#include "server/serve_config_outgoing.h"

#include <charconv>
#include <set>

#include "common/units.h"
#include "server/cron.h"

namespace gantry::server {

namespace {

std::string at(const std::string& path, const YAML::Node& node, const std::string& key) {
  auto mark = node.Mark();
  return path + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ": " + key;
}

std::unexpected<Error> bad(const std::string& path, const YAML::Node& node, const std::string& key,
                           const std::string& why) {
  return fail(ErrorKind::invalid_input, at(path, node, key) + ": " + why);
}

Result<std::string> scalar(const std::string& path, const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) return bad(path, node, key, "expected a string");
  return node.as<std::string>();
}

Result<std::string> http_url(const std::string& path, const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar() || (!node.as<std::string>().starts_with("https://") && !node.as<std::string>().starts_with("http://")))
    return bad(path, node, key, "expected an http:// or https:// URL");
  return node.as<std::string>();
}

// Walks a mapping, calling `set` per key; unknown keys are errors listing `known`.
template <typename Set>
Status each_key(const std::string& path, const YAML::Node& node, const std::string& key, const std::string& known,
                Set set) {
  if (!node.IsMap()) return bad(path, node, key, "expected a mapping (" + known + ")");
  for (const auto& item : node) {
    const auto name = item.first.as<std::string>();
    Result<bool> handled = set(name, item.second, key + "." + name);
    if (!handled) return std::unexpected(handled.error());
    if (!*handled) return bad(path, item.first, key + "." + name, "unknown key (" + known + ")");
  }
  return {};
}

Result<int> positive(const std::string& path, const YAML::Node& node, const std::string& key) {
  const std::string v = node.IsScalar() ? node.as<std::string>() : "";
  int out = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || end != v.data() + v.size() || out < 1) return bad(path, node, key, "expected a positive number");
  return out;
}

Result<std::chrono::milliseconds> duration(const std::string& path, const YAML::Node& node, const std::string& key) {
  auto d = parse_duration(node.IsScalar() ? node.as<std::string>() : "");
  if (!d) return bad(path, node, key, d.error().message());
  return *d;
}

const std::set<std::string> kEvents = {"run_finished", "stage_failed", "promotion", "rollback", "promotion_refused"};

}  // namespace

Status parse_notifications(const std::string& path, const YAML::Node& node, const std::string& key, ServeConfig& config) {
  if (!node.IsSequence()) return bad(path, node, key, "expected a list of {url, secret_file, events}");
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string k = key + "[" + std::to_string(i) + "]";
    NotificationTarget target;
    TRY(each_key(path, node[i], k, "url, secret_file, events",
                 [&](const std::string& name, const YAML::Node& v, const std::string& vk) -> Result<bool> {
                   if (name == "url") target.url = TRY(http_url(path, v, vk));
                   else if (name == "secret_file") target.secret_file = TRY(scalar(path, v, vk));
                   else if (name == "events") {
                     if (!v.IsSequence()) return bad(path, v, vk, "expected a list of event names");
                     for (const auto& e : v) {
                       const std::string event = TRY(scalar(path, e, vk));
                       if (!kEvents.contains(event))
                         return bad(path, e, vk, "unknown event '" + event +
                                                     "' (run_finished, stage_failed, promotion, rollback, promotion_refused)");
                       target.events.push_back(event);
                     }
                   } else return false;
                   return true;
                 }));
    if (target.url.empty()) return bad(path, node[i], k, "needs url");
    if (target.secret_file.empty())
      return bad(path, node[i], k, "needs secret_file (the key that signs the notifications)");
    config.notifications.push_back(std::move(target));
  }
  return {};
}

Status parse_commit_status(const std::string& path, const YAML::Node& node, const std::string& key, ServeConfig& config) {
  if (!node.IsMap()) return bad(path, node, key, "expected a mapping of forges (github, gitea, gitlab)");
  for (const auto& item : node) {
    const std::string forge = item.first.as<std::string>();
    const std::string k = key + "." + forge;
    if (forge != "github" && forge != "gitea" && forge != "gitlab")
      return bad(path, item.first, k, "unknown forge (github, gitea, gitlab)");
    ForgeStatusConfig f;
    f.forge = forge;
    if (forge == "github") f.api = "https://api.github.com";
    TRY(each_key(path, item.second, k, "api, token_secret, context",
                 [&](const std::string& name, const YAML::Node& v, const std::string& vk) -> Result<bool> {
                   if (name == "api") f.api = TRY(http_url(path, v, vk));
                   else if (name == "token_secret") f.token_secret = TRY(scalar(path, v, vk));
                   else if (name == "context") f.context = TRY(scalar(path, v, vk));
                   else return false;
                   return true;
                 }));
    while (f.api.ends_with("/")) f.api.pop_back();
    if (f.api.empty())
      return bad(path, item.second, k, forge == "gitea" ? "needs api (https://HOST/api/v1)" : "needs api (https://HOST/api/v4)");
    if (f.token_secret.empty())
      return bad(path, item.second, k, "needs token_secret (the name of the token: gantry secret set NAME --project P)");
    config.commit_status.push_back(std::move(f));
  }
  return {};
}

Status parse_outgoing(const std::string& path, const YAML::Node& node, const std::string& key, ServeConfig& config) {
  OutboxOptions& o = config.outgoing;
  return each_key(path, node, key, "queue, attempts, backoff, max_backoff, timeout",
                  [&](const std::string& name, const YAML::Node& v, const std::string& vk) -> Result<bool> {
                    if (name == "queue") o.capacity = static_cast<std::size_t>(TRY(positive(path, v, vk)));
                    else if (name == "attempts") o.attempts = TRY(positive(path, v, vk));
                    else if (name == "backoff") o.backoff = TRY(duration(path, v, vk));
                    else if (name == "max_backoff") o.max_backoff = TRY(duration(path, v, vk));
                    else if (name == "timeout") o.timeout = TRY(duration(path, v, vk));
                    else return false;
                    return true;
                  });
}

Status parse_schedules(const std::string& path, const YAML::Node& node, const std::string& key, ServeConfig& config) {
  if (!node.IsSequence()) return bad(path, node, key, "expected a list of {repo, branch, cron, if_running}");
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string k = key + "[" + std::to_string(i) + "]";
    ScheduleConfig s;
    TRY(each_key(path, node[i], k, "name, repo, branch, cron, if_running",
                 [&](const std::string& name, const YAML::Node& v, const std::string& vk) -> Result<bool> {
                   if (name == "name") s.name = TRY(scalar(path, v, vk));
                   else if (name == "repo") s.repo = TRY(scalar(path, v, vk));
                   else if (name == "branch") s.branch = TRY(scalar(path, v, vk));
                   else if (name == "cron") {
                     s.cron = TRY(scalar(path, v, vk));
                     if (auto parsed = CronExpr::parse(s.cron); !parsed) return bad(path, v, vk, parsed.error().message());
                   } else if (name == "if_running") {
                     const std::string mode = TRY(scalar(path, v, vk));
                     if (mode != "wait" && mode != "skip") return bad(path, v, vk, "expected wait or skip");
                     s.skip_if_running = mode == "skip";
                   } else return false;
                   return true;
                 }));
    for (const char* required : {"repo", "branch", "cron"})
      if (!node[i][required]) return bad(path, node[i], k, std::string("needs ") + required);
    if (s.name.empty()) s.name = s.repo + ":" + s.branch + ":" + s.cron;
    config.schedules.push_back(std::move(s));
  }
  return {};
}

Status check_schedules(const ServeConfig& config) {
  std::set<std::string> names;
  for (const auto& s : config.schedules) {
    if (!names.insert(s.name).second)
      return fail(ErrorKind::usage, "schedules: two schedules are named '" + s.name + "' (give each a name:)");
    bool known = false;
    for (const auto& r : config.repos) known = known || r.name == s.repo;
    if (!known) return fail(ErrorKind::usage, "schedule '" + s.name + "': repo '" + s.repo + "' is not a configured repository (repos: / --repo)");
  }
  return {};
}

}  // namespace gantry::server
