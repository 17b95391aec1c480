// The configuration of `gantry serve` (docs/serve.md): flags, or the same
// keys in a YAML file (--config serve.yml; flags given win over the file).
//
//   listen: 127.0.0.1:8080
//   store: /var/lib/gantry
//   repos:
//     - {name: acme/app, url: https://git.example.org/acme/app.git}
//     - {name: tools, path: /srv/git/tools.git}
//     - {name: site, url: https://git.example.org/acme/site.git,
//        branches: [main, release], poll: 30s}   # the server polls them (branch_poll.h)
//   token_file: /etc/gantry/serve.token            # write routes
//   read_token_file: /etc/gantry/serve.read-token  # read routes off loopback
//   webhook_secret_file: /etc/gantry/webhook.secret
//   max_runs: 2
//   grace: 30s                 # SIGTERM: how long running runs may finish
//   max_body: 1MiB             # bigger request bodies are refused with 413
//   client_timeout: 30s        # a request must arrive within this
//   public_url: https://ci.example.org     # links in notifications and commit statuses
//   notifications:             # signed JSON POSTs (server/notifier.h)
//     - {url: https://chat.example.org/hook, secret_file: /etc/gantry/notify.secret,
//        events: [run_finished, stage_failed, promotion, rollback]}
//   commit_status:             # per forge (server/commit_status.h)
//     github: {api: https://api.github.com, token_secret: GITHUB_STATUS_TOKEN}
//   outgoing: {queue: 1000, attempts: 5, backoff: 1s, max_backoff: 60s, timeout: 10s}
//   schedules:                 # server/schedules.h
//     - {name: nightly, repo: acme/app, branch: main, cron: "0 3 * * *", if_running: skip}
//   signing_key: /etc/gantry/keys/gantry.key   # signs the runs' attestations
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "server/outbox.h"

namespace gantry::server {

struct RepoConfig {
  std::string name;      // how webhooks and the API name it ("acme/app")
  std::string location;  // a local path or a clone URL, as `gantry run` takes it
  // Branches the server polls itself (branch_poll.h): `branches:` and/or
  // `poll:` in the file. None and 0 = no polling; `poll` alone polls HEAD's
  // branch; `branches` alone polls every kDefaultPoll.
  std::vector<std::string> branches;
  std::chrono::milliseconds poll{0};
  static constexpr std::chrono::milliseconds kDefaultPoll{60000};
};

// One receiver of notifications (docs/serve.md, "Notifications").
struct NotificationTarget {
  std::string url;
  std::string secret_file;          // the HMAC-SHA256 key of X-Gantry-Signature-256
  std::vector<std::string> events;  // run_finished, stage_failed, promotion, rollback, promotion_refused (empty: all)
};

// A forge whose commit-status API hears about the runs its webhooks started
// (docs/serve.md, "Commit statuses").
struct ForgeStatusConfig {
  std::string forge;         // github | gitea | gitlab
  std::string api;           // the API base: https://api.github.com, https://HOST/api/v1, https://HOST/api/v4
  std::string token_secret;  // the name of the token in the store's secrets (per project)
  std::string context = "gantry";  // the status's context (GitLab: name)
};

// A run started on a schedule (docs/serve.md, "Schedules").
struct ScheduleConfig {
  std::string name;  // unique; default "REPO:BRANCH:CRON"
  std::string repo;  // a configured repository's name
  std::string branch;
  std::string cron;
  bool skip_if_running = false;  // if_running: skip | wait (default)
};

struct ServeConfig {
  std::string listen = "127.0.0.1:8080";
  std::string store;  // "" = gantry's default store
  std::vector<RepoConfig> repos;
  std::string token_file;
  std::string read_token_file;
  std::string webhook_secret_file;
  int max_runs = 1;
  std::chrono::milliseconds grace{30000};
  std::uint64_t max_body = 1 << 20;
  std::chrono::milliseconds client_timeout{30000};
  std::string runner_config;  // --runner-config, passed on to each run
  std::string signing_key;    // --signing-key: its path reaches each run as $GANTRY_SIGNING_KEY
  std::string gantry_binary = "/proc/self/exe";
  std::string public_url;  // "" = no run links in notifications and commit statuses
  std::vector<NotificationTarget> notifications;
  std::vector<ForgeStatusConfig> commit_status;
  OutboxOptions outgoing;
  std::vector<ScheduleConfig> schedules;
  int verbosity = 0;
};

// "[NAME=]PATH_OR_URL": NAME defaults to the last two path components of a
// URL ("acme/app" of https://host/acme/app.git), else the directory's name.
Result<RepoConfig> parse_repo_spec(const std::string& spec);

// Reads a serve.yml into `config` (only the keys the file has); errors name
// file:line:col and the key.
Status load_serve_config(const std::string& path, ServeConfig& config);

// The host and port of `listen` ("127.0.0.1:8080", "[::1]:80", ":8080").
struct ListenAddress {
  std::string host;
  unsigned short port = 0;
};
Result<ListenAddress> parse_listen(const std::string& listen);

// A secret file's content without its trailing newline; invalid_input when
// the file is empty, unreadable, or readable by others than its owner's group.
Result<std::string> read_secret_file(const std::string& path, const std::string& what);

}  // namespace gantry::server
