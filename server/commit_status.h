// Commit statuses (docs/serve.md, "Commit statuses"): a run that a forge's
// webhook queued (source github, gitea or gitlab) reports its state to that
// forge's commit-status API, as it changes:
//   GitHub  POST {api}/repos/{owner}/{repo}/statuses/{sha}   Authorization: Bearer TOKEN
//   Gitea   POST {api}/repos/{owner}/{repo}/statuses/{sha}   Authorization: token TOKEN
//   GitLab  POST {api}/projects/{url-encoded owner/repo}/statuses/{sha}   PRIVATE-TOKEN: TOKEN
// with {"state", "target_url" (the run's dashboard page), "description",
// "context" (GitLab: "name")}. States: queued/running -> pending (GitLab:
// pending/running); passed, waiting -> success; failed -> failure (GitLab:
// failed); cancelled, interrupted -> error (GitLab: canceled).
//
// Where the token goes is configuration only: the API base is the forge's
// `api` in serve.yml and {owner}/{repo} is the configured repository's NAME,
// never a URL or a name from the webhook's payload, so a payload cannot send
// the token elsewhere. The token is the store's secret `token_secret` for the
// repository's project (gantry secret set NAME --project P), read when a
// status is sent, never logged.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "cache/store_paths.h"
#include "server/outbox.h"
#include "server/serve_config.h"

namespace gantry::server {

// The request for one state of one run (exposed for tests): url, headers
// without the token, body. `forge_state` is gantry's status mapped already.
struct StatusRequest {
  std::string url;
  std::string token_header;  // "Authorization: Bearer " etc., the token to append
  nlohmann::json body;
};
// The state a forge is told for a run status; "" = none (not worth a status).
std::string forge_state(const std::string& forge, const std::string& run_status);
StatusRequest status_request(const ForgeStatusConfig& forge, const std::string& repo_name, const std::string& sha,
                             const std::string& state, const std::string& target_url, const std::string& description);

class CommitStatusReporter {
 public:
  CommitStatusReporter(const ServeConfig& config, cache::StorePaths paths, Outbox& outbox)
      : config_(config), paths_(std::move(paths)), outbox_(outbox) {}

  // An EventHub listener: "run" events of forge-started runs.
  void on_event(const std::string& type, const nlohmann::json& data);

 private:
  const RepoConfig* repo_of(const std::string& run_id, const nlohmann::json& run);
  const ServeConfig& config_;
  const cache::StorePaths paths_;
  Outbox& outbox_;
  std::mutex mutex_;
  std::map<std::string, std::string> repo_of_run_;  // run id -> configured repository name
  std::map<std::string, std::string> sent_;         // run id -> last state queued
};

}  // namespace gantry::server
