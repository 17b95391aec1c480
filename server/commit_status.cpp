#include "server/commit_status.h"

#include <spdlog/spdlog.h>

#include "cache/secret_store.h"
#include "common/project_name.h"
#include "server/notifier.h"

namespace gantry::server {

namespace {

constexpr std::size_t kRemembered = 10000;

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Percent-encodes everything but unreserved characters ('/' too: GitLab's
// project id is the encoded path).
std::string encode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out.push_back(static_cast<char>(c));
    else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::string description_of(const std::string& status, const nlohmann::json& run) {
  if (status == "queued") return "queued";
  if (status == "starting" || status == "running") return "running";
  if (status == "passed") return "passed";
  if (status == "waiting") return "passed; waiting for a manual promotion to " + str(run, "waiting_environment");
  if (status == "failed") return str(run, "error").empty() ? "failed" : "failed: " + str(run, "error").substr(0, 100);
  return status;
}

bool hex_sha(const std::string& s) {
  return s.size() >= 7 && s.size() <= 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

std::string forge_state(const std::string& forge, const std::string& status) {
  const bool gitlab = forge == "gitlab";
  if (status == "queued") return "pending";
  if (status == "starting" || status == "running") return gitlab ? "running" : "pending";
  if (status == "passed" || status == "waiting") return "success";
  if (status == "failed") return gitlab ? "failed" : "failure";
  if (status == "cancelled" || status == "interrupted") return gitlab ? "canceled" : "error";
  return {};
}

StatusRequest status_request(const ForgeStatusConfig& forge, const std::string& repo_name, const std::string& sha,
                             const std::string& state, const std::string& target_url, const std::string& description) {
  StatusRequest r;
  nlohmann::json body = {{"state", state}, {"description", description}};
  if (!target_url.empty()) body["target_url"] = target_url;
  if (forge.forge == "gitlab") {
    r.url = forge.api + "/projects/" + encode(repo_name) + "/statuses/" + sha;
    r.token_header = "PRIVATE-TOKEN: ";
    body["name"] = forge.context;
  } else {
    const auto slash = repo_name.find('/');
    r.url = forge.api + "/repos/" + encode(repo_name.substr(0, slash)) + "/" +
            encode(slash == std::string::npos ? "" : repo_name.substr(slash + 1)) + "/statuses/" + sha;
    r.token_header = forge.forge == "github" ? "Authorization: Bearer " : "Authorization: token ";
    body["context"] = forge.context;
  }
  r.body = std::move(body);
  return r;
}

const RepoConfig* CommitStatusReporter::repo_of(const std::string& run_id, const nlohmann::json& run) {
  // Before its record exists, a queued run's row names the configured
  // repository as its project; remember it for the run's later rows.
  const std::string project = str(run, "project"), location = str(run, "repo");
  std::lock_guard lock(mutex_);
  if (auto it = repo_of_run_.find(run_id); it != repo_of_run_.end())
    for (const auto& r : config_.repos)
      if (r.name == it->second) return &r;
  for (const auto& r : config_.repos)
    if (r.name == project && r.location == location) {
      if (repo_of_run_.size() > kRemembered) repo_of_run_.clear();
      repo_of_run_[run_id] = r.name;
      return &r;
    }
  for (const auto& r : config_.repos)
    if (r.location == location) return &r;
  return nullptr;
}

void CommitStatusReporter::on_event(const std::string& type, const nlohmann::json& run) {
  if (type != "run") return;
  const std::string source = str(run, "source");
  const ForgeStatusConfig* forge = nullptr;
  for (const auto& f : config_.commit_status)
    if (f.forge == source) forge = &f;
  if (!forge) return;
  const std::string id = str(run, "id"), status = str(run, "status"), sha = str(run, "commit");
  const std::string state = forge_state(forge->forge, status);
  const RepoConfig* repo = repo_of(id, run);
  if (state.empty() || !repo || !hex_sha(sha)) return;
  const std::string description = description_of(status, run);
  {
    std::lock_guard lock(mutex_);
    auto& last = sent_[id];
    if (last == state + "\n" + description) return;
    last = state + "\n" + description;
    if (sent_.size() > kRemembered) sent_.clear();
  }
  auto log = spdlog::get("serve");
  // The token: the store's secret for the repository's project, read now (a
  // `gantry secret set` takes effect without a restart).
  const std::string project = project_for_repository(repo->location);
  cache::SecretStore secrets(paths_);
  auto stored = secrets.list();
  std::optional<cache::StoredSecret> token;
  if (stored) token = cache::pick_secret(*stored, forge->token_secret, project, "");
  if (token && token->value.find_first_of("\r\n") != std::string::npos) {
    if (log) log->warn("run {}: no commit status to {}: secret {} holds a line break", id, forge->forge, forge->token_secret);
    return;
  }
  if (!token) {
    if (log)
      log->warn("run {}: no commit status to {}: the store has no secret {} for project {} ({})", id, forge->forge,
                forge->token_secret, project, stored ? "gantry secret set " + forge->token_secret + " --project " + project
                                                     : stored.error().message());
    return;
  }
  auto request = status_request(*forge, repo->name, sha, state, run_page_url(config_.public_url, id), description);
  outbox_.push({.kind = "commit status " + forge->forge + " " + state,
                .url = request.url,
                .headers = {"Content-Type: application/json", "Accept: application/json",
                            request.token_header + token->value},
                .body = request.body.dump(),
                .coalesce = "status " + id});
}

}  // namespace gantry::server
