// POST /hooks/github, /hooks/gitea, /hooks/gitlab: push events in each
// forge's own payload format (docs/serve.md, "Webhooks").
//  - GitHub: X-Hub-Signature-256 "sha256=<hmac>", X-GitHub-Event, X-GitHub-Delivery;
//    {"ref", "after", "deleted", "repository": {"full_name", "clone_url", "ssh_url", ...}, "head_commit": {"message"}}
//  - Gitea: the same payload; X-Hub-Signature-256 or X-Gitea-Signature (bare hex),
//    X-Gitea-Event, X-Gitea-Delivery
//  - GitLab: X-Gitlab-Token (the secret itself), X-Gitlab-Event "Push Hook",
//    X-Gitlab-Event-UUID; {"object_kind": "push", "ref", "after", "checkout_sha",
//    "project": {"path_with_namespace", "git_http_url", "git_ssh_url", ...}, "commits": [{"id", "message"}]}
// Order of checks: signature (401), event kind (ping and others: 200, nothing
// queued), body (400), repository (404), redelivery (200, nothing queued), queue (202).
#include <cctype>

#include "cache/image_store.h"  // before store.h: Store holds a unique_ptr<ImageStore>
#include "cache/run_queue.h"
#include "server/auth.h"
#include "server/server_core.h"

namespace gantry::server {

namespace {

enum class Forge { github, gitea, gitlab };

const char* forge_name(Forge f) { return f == Forge::github ? "github" : f == Forge::gitea ? "gitea" : "gitlab"; }

struct Push {
  std::string ref;
  std::string after;
  std::string full_name;
  std::vector<std::string> urls;
  std::string subject;
  bool deleted = false;
};

// "https://User@Host/a/b.git/" and "git@host:a/b.git" -> "host/a/b".
std::string normalize_url(std::string u) {
  for (char& c : u) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto scheme = u.find("://"); scheme != std::string::npos) u = u.substr(scheme + 3);
  else if (auto colon = u.find(':'); colon != std::string::npos && u.find('/') > colon) u[colon] = '/';  // scp-like
  if (auto at = u.find('@'); at != std::string::npos && at < u.find('/')) u = u.substr(at + 1);
  while (!u.empty() && u.back() == '/') u.pop_back();
  if (u.ends_with(".git")) u.resize(u.size() - 4);
  return u;
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::string text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<Push> parse_push(Forge forge, const std::string& body) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorKind::invalid_input, std::string("the payload is not JSON: ") + e.what());
  }
  if (!j.is_object()) return fail(ErrorKind::invalid_input, "the payload is not a JSON object");
  Push p;
  p.ref = text(j, "ref");
  p.after = text(j, "after");
  const char* repo_key = forge == Forge::gitlab ? "project" : "repository";
  auto repo = j.find(repo_key);
  if (p.ref.empty() || p.after.empty() || repo == j.end() || !repo->is_object())
    return fail(ErrorKind::invalid_input, std::string("a push payload needs \"ref\", \"after\" and \"") + repo_key + "\"");
  if (forge == Forge::gitlab) {
    if (auto sha = text(j, "checkout_sha"); !sha.empty()) p.after = sha;
    p.full_name = text(*repo, "path_with_namespace");
    for (const char* k : {"git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url"})
      if (auto u = text(*repo, k); !u.empty()) p.urls.push_back(u);
    if (auto commits = j.find("commits"); commits != j.end() && commits->is_array())
      for (const auto& c : *commits)
        if (c.is_object() && text(c, "id") == p.after) p.subject = first_line(text(c, "message"));
  } else {
    p.full_name = text(*repo, "full_name");
    for (const char* k : {"clone_url", "ssh_url", "git_url", "html_url", "url"})
      if (auto u = text(*repo, k); !u.empty()) p.urls.push_back(u);
    if (auto head = j.find("head_commit"); head != j.end() && head->is_object())
      p.subject = first_line(text(*head, "message"));
    if (auto d = j.find("deleted"); d != j.end() && d->is_boolean()) p.deleted = d->get<bool>();
  }
  if (p.after.find_first_not_of('0') == std::string::npos) p.deleted = true;
  if (p.full_name.empty() && p.urls.empty())
    return fail(ErrorKind::invalid_input, std::string("the payload's \"") + repo_key + "\" names no repository");
  return p;
}

const RepoConfig* match_repo(const ServerCore& core, const Push& push) {
  for (const auto& r : core.config.repos)
    if (!push.full_name.empty() && r.name == push.full_name) return &r;
  for (const auto& r : core.config.repos) {
    const std::string mine = normalize_url(r.location);
    for (const auto& u : push.urls)
      if (normalize_url(u) == mine) return &r;
  }
  return nullptr;
}

Reply hook(ServerCore& core, Forge forge, const Request& req) {
  if (core.webhook_secret.empty())
    return error_response(401, "unauthorized", "webhooks are disabled: the server has no --webhook-secret-file");
  bool verified = false;
  std::string event, delivery;
  switch (forge) {
    case Forge::github:
      verified = valid_signature(req.header("x-hub-signature-256"), core.webhook_secret, req.body);
      event = req.header("x-github-event");
      delivery = req.header("x-github-delivery");
      break;
    case Forge::gitea: {
      std::string sig = req.header("x-hub-signature-256");
      if (sig.empty()) sig = req.header("x-gitea-signature");
      verified = valid_signature(sig, core.webhook_secret, req.body);
      event = req.header("x-gitea-event");
      if (event.empty()) event = req.header("x-github-event");
      delivery = req.header("x-gitea-delivery");
      break;
    }
    case Forge::gitlab:
      verified = equal_secret(req.header("x-gitlab-token"), core.webhook_secret);
      event = req.header("x-gitlab-event");
      delivery = req.header("x-gitlab-event-uuid");
      break;
  }
  if (!verified) return error_response(401, "unauthorized", "the webhook's signature does not match the secret");
  const bool push = forge == Forge::gitlab ? event == "Push Hook" : event == "push";
  if (!push) return json_response(200, {{"ignored", "event '" + event + "' (only push events queue runs)"}});
  auto parsed = parse_push(forge, req.body);
  if (!parsed) return error_response(parsed.error());
  const RepoConfig* repo = match_repo(core, *parsed);
  if (!repo)
    return error_response(404, "not found", "repository '" + parsed->full_name + "' is not one this server runs (--repo)");
  if (parsed->deleted) return json_response(200, {{"ignored", "the push deleted " + parsed->ref}});
  cache::RunQueue queue(core.store);
  auto dup = queue.find_delivery(forge_name(forge), delivery);
  if (dup && !*dup) dup = queue.find_commit(repo->name, parsed->after);
  if (!dup) return error_response(dup.error());
  if (*dup)
    return json_response(200, {{"id", (*dup)->id}, {"duplicate", true},
                               {"detail", "already queued or run: " + (*dup)->id}});
  cache::QueueEntry entry;
  entry.repo_name = repo->name;
  entry.repo = repo->location;
  entry.rev = parsed->after;
  entry.commit = parsed->after;
  entry.branch = parsed->ref.starts_with("refs/heads/") ? parsed->ref.substr(11) : parsed->ref;
  entry.subject = parsed->subject;
  entry.source = forge_name(forge);
  entry.delivery = delivery;
  if (auto st = core.supervisor.enqueue(entry); !st) return error_response(st.error());
  auto r = json_response(202, {{"id", entry.id}, {"status", "queued"}, {"url", "/api/v1/runs/" + entry.id}});
  r.headers.emplace_back("Location", "/api/v1/runs/" + entry.id);
  return r;
}

}  // namespace

void add_webhook_routes(Router& router, ServerCore& core) {
  for (Forge f : {Forge::github, Forge::gitea, Forge::gitlab})
    router.add("POST", std::string("/hooks/") + forge_name(f), Access::webhook,
               [&core, f](Request& r) { return hook(core, f, r); });
}

}  // namespace gantry::server
