// gantry image pull REF, gantry image push IMAGE REF, gantry login HOST,
// gantry logout HOST: the registry commands (registry/ does the work).
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cache/image_store.h"
#include "cache/store.h"
#include "common/units.h"
#include "registry/credentials.h"
#include "registry/progress.h"
#include "registry/reference.h"
#include "registry/registry_client.h"
#include "registry/registry_options.h"
#include "registry/step_cache_share.h"
#include "registry/transfer.h"
#include "runner/cli.h"
#include "runner/store_open.h"

namespace gantry::runner {
namespace {

using registry::RegistryOptions;

struct Flags {
  RegistryOptions options = registry::registry_options_from_env();
  std::string chunk_size;
  std::string project;  // push --project
  bool json = false;
  bool quiet = false;
  std::ostream* out = &std::cout;  // std::cerr when wrapped around build/run (their stdout may be JSON)
};

void add_connection_flags(CLI::App* cmd, Flags& f) {
  cmd->add_option("--ca-file", f.options.ca_file, "PEM CA bundle trusted in addition to the system CAs")
      ->check(CLI::ExistingFile);
  cmd->add_option("--insecure-registry", f.options.insecure_registries,
                  "Allow plain HTTP (or unverified TLS) to this registry host (repeatable)")
      // One HOST per occurrence: a vector option would otherwise also take
      // the positional REF that follows it.
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--authfile", f.options.auth_file,
                  "Credentials file (default: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, "
                  "~/.docker/config.json)");
}

void add_transfer_flags(CLI::App* cmd, Flags& f) {
  add_connection_flags(cmd, f);
  cmd->add_option("--parallel", f.options.parallel, "Blobs transferred at once")->check(CLI::Range(1, 32));
  cmd->add_flag("--json", f.json, "Print the result and transfer counters as JSON");
  cmd->add_flag("-q,--quiet", f.quiet, "No progress lines");
}

nlohmann::json counts_json(const registry::TransferCounts& c) {
  return {{"requests", c.requests},
          {"blobs_uploaded", c.blobs_uploaded},
          {"bytes_uploaded", c.bytes_uploaded},
          {"blobs_mounted", c.blobs_mounted},
          {"blobs_present", c.blobs_present},
          {"blobs_downloaded", c.blobs_downloaded},
          {"bytes_downloaded", c.bytes_downloaded},
          {"manifests_uploaded", c.manifests_uploaded},
          {"manifests_downloaded", c.manifests_downloaded}};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int run_pull(const GlobalOptions& global, Flags& f, const std::string& ref) {
  auto start = std::chrono::steady_clock::now();
  f.options.progress = !f.quiet && !f.json;
  auto store = open_store(global);
  if (!store) return report_error(store.error());
  auto r = registry::pull_image(**store, ref, f.options);
  if (!r) return report_error(r.error());
  if (f.json) {
    nlohmann::json j = {{"reference", r->reference}, {"digest", r->manifest_digest.str()},
                        {"from_store", r->from_store}, {"seconds", seconds_since(start)},
                        {"counts", counts_json(r->counts)}};
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "pulled " << r->reference << " " << r->manifest_digest.str();
    if (r->from_store)
      std::cout << " (already in the store)\n";
    else
      std::cout << " (" << r->counts.blobs_downloaded << " blobs, "
                << registry::human_bytes(double(r->counts.bytes_downloaded)) << " in " << seconds_since(start)
                << "s)\n";
  }
  return kExitOk;
}

int run_push(const GlobalOptions& global, Flags& f, const std::string& image, const std::string& dest) {
  auto start = std::chrono::steady_clock::now();
  f.options.progress = !f.quiet && !f.json;
  if (!f.chunk_size.empty()) {
    auto size = parse_byte_size(f.chunk_size);
    if (!size) return report_error(Error(ErrorKind::usage, "--chunk-size: " + size.error().message()));
    f.options.chunk_size = *size;
  }
  auto store = open_store(global);
  if (!store) return report_error(store.error());
  // --project: the image is that project's build tag; push exactly its digest.
  std::string source = image;
  if (!f.project.empty()) {
    auto digest = (*store)->images().resolve(image, cache::TagScope::of(f.project));
    if (!digest) return report_error(digest.error());
    source = digest->str();
  }
  auto r = registry::push_image(**store, source, dest, f.options);
  if (!r) return report_error(r.error());
  if (f.json) {
    nlohmann::json j = {{"reference", r->reference}, {"digest", r->manifest_digest.str()},
                        {"tag_only", r->tag_only}, {"seconds", seconds_since(start)},
                        {"counts", counts_json(r->counts)}};
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "pushed " << image << " to " << r->reference << " " << r->manifest_digest.str();
    if (r->tag_only)
      std::cout << " (already there: tag only)\n";
    else
      std::cout << " (" << r->counts.blobs_uploaded << " blobs uploaded, "
                << registry::human_bytes(double(r->counts.bytes_uploaded)) << ", " << r->counts.blobs_present
                << " present, " << r->counts.blobs_mounted << " mounted, in " << seconds_since(start) << "s)\n";
  }
  return kExitOk;
}

int run_cache_export(const GlobalOptions& global, Flags& f, const std::string& repo) {
  f.options.progress = !f.quiet && !f.json;
  auto store = open_store(global);
  if (!store) return report_error(store.error());
  auto r = registry::export_step_cache(**store, repo, f.options);
  if (!r) return report_error(r.error());
  if (f.json) {
    *f.out << nlohmann::json{{"reference", r->reference}, {"digest", r->manifest_digest.str()},
                                {"entries", r->entries}, {"layers", r->layers}, {"counts", counts_json(r->counts)}}
                     .dump()
              << "\n";
  } else {
    *f.out << "exported " << r->entries << " step-cache entries (" << r->layers << " layers) to " << r->reference
              << " (" << r->counts.blobs_uploaded << " blobs uploaded)\n";
  }
  return kExitOk;
}

int run_cache_import(const GlobalOptions& global, Flags& f, const std::string& repo) {
  f.options.progress = !f.quiet && !f.json;
  auto store = open_store(global);
  if (!store) return report_error(store.error());
  auto r = registry::import_step_cache(**store, repo, f.options);
  if (!r) return report_error(r.error());
  if (f.json) {
    *f.out << nlohmann::json{{"artifacts", r->artifacts}, {"entries_added", r->entries_added},
                                {"entries_known", r->entries_known}, {"layers_fetched", r->layers_fetched},
                                {"entries_deferred", r->entries_deferred}, {"counts", counts_json(r->counts)}}
                     .dump()
              << "\n";
  } else {
    *f.out << "imported " << r->entries_added << " step-cache entries from " << repo << " ("
           << r->artifacts << " artifacts, " << r->entries_known << " already known; " << r->entries_deferred
           << " fetch their layer when a build first hits them)\n";
  }
  return kExitOk;
}

// --cache-from / --cache-to on `gantry build` and `gantry run` (when those
// commands exist): the step cache is imported from the registry before the
// command's work and exported after it succeeds. Defaults from
// $GANTRY_CACHE_FROM / $GANTRY_CACHE_TO.
struct SharedCacheFlags {
  std::string from;
  std::string to;
  Flags flags;
};

int with_shared_cache(const GlobalOptions& global, SharedCacheFlags& c, const Action& inner) {
  c.flags.quiet = true;
  c.flags.out = &std::cerr;
  if (!c.from.empty()) {
    int rc = run_cache_import(global, c.flags, c.from);
    if (rc != kExitOk) return rc;
  }
  int rc = inner();
  if (rc == kExitOk && !c.to.empty()) rc = run_cache_export(global, c.flags, c.to);
  return rc;
}

void add_shared_cache_flags(Cli& cli) {
  auto shared = std::make_shared<SharedCacheFlags>();
  if (const char* from = std::getenv("GANTRY_CACHE_FROM")) shared->from = from;
  if (const char* to = std::getenv("GANTRY_CACHE_TO")) shared->to = to;
  bool any = false;
  for (const char* name : {"build", "run"}) {
    CLI::App* cmd = nullptr;
    try {
      cmd = cli.app.get_subcommand(name);
    } catch (const CLI::OptionNotFound&) {
      continue;
    }
    cmd->add_option("--cache-from", shared->from, "Import the shared step cache from HOST/REPO first ($GANTRY_CACHE_FROM)");
    cmd->add_option("--cache-to", shared->to, "Export the step cache to HOST/REPO after success ($GANTRY_CACHE_TO)");
    any = true;
  }
  if (!any) return;
  // The app's own callback runs after the chosen subcommand's: wrap its action.
  cli.app.final_callback([&cli, shared] {
    if (!cli.action || (shared->from.empty() && shared->to.empty())) return;
    bool chosen = false;
    for (const char* name : {"build", "run"}) {
      try {
        chosen = chosen || cli.app.get_subcommand(name)->parsed();
      } catch (const CLI::OptionNotFound&) {
      }
    }
    if (!chosen) return;
    Action inner = cli.action;
    cli.action = [&cli, shared, inner] { return with_shared_cache(cli.global, *shared, inner); };
  });
}

struct LoginFlags {
  Flags flags;
  std::string host;
  std::string username;
  std::string password;
  bool password_stdin = false;
};

int run_login(LoginFlags& f) {
  auto ref = registry::RegistryRef::parse(f.host + "/x");
  if (!ref) return report_error(Error(ErrorKind::usage, "login: bad registry host '" + f.host + "'"));
  std::string host = ref->host;
  if (f.password_stdin) {
    std::getline(std::cin, f.password);
    if (!f.password.empty() && f.password.back() == '\r') f.password.pop_back();
  }
  if (f.username.empty()) return report_error(Error(ErrorKind::usage, "login: --username is required"));
  if (f.password.empty()) {
    if (!::isatty(0)) return report_error(Error(ErrorKind::usage, "login: give --password or --password-stdin"));
    std::string prompt = "Password for " + f.username + "@" + host + ": ";
    const char* pw = ::getpass(prompt.c_str());
    f.password = pw ? pw : "";
  }
  RegistryOptions options = f.flags.options;
  options.credentials = registry::Credentials{f.username, f.password};
  auto client = registry::RegistryClient::connect(host, options, false);
  if (!client) return report_error(client.error().context("login to " + host));
  // /v2/ with the credentials (a token for no scope, for token registries).
  auto r = (*client)->send({.method = "GET", .url = (*client)->base_url() + "/v2/"}, {});
  if (!r) return report_error(r.error().context("login to " + host));
  if (!r->ok()) return report_error(registry::http_error("login to " + host, *r));
  std::string file = registry::auth_file_for_write(options.auth_file);
  if (auto st = registry::store_credentials(file, host, *options.credentials); !st)
    return report_error(st.error().context("login to " + host));
  std::cout << "Login Succeeded (" << host << ", credentials in " << file << ")\n";
  return kExitOk;
}

}  // namespace

void add_registry_commands(Cli& cli) {
  CLI::App* image = command_group(cli.app, "image", "Manage stored images");

  auto pull_flags = std::make_shared<Flags>();
  auto pull_ref = std::make_shared<std::string>();
  auto* pull = image->add_subcommand("pull", "Pull HOST[:PORT]/REPO[:TAG|@DIGEST] from a registry into the store");
  pull->add_option("REF", *pull_ref, "Image reference in a registry")->required();
  add_transfer_flags(pull, *pull_flags);
  pull->parse_complete_callback([&cli, pull_flags, pull_ref] {
    cli.action = [&cli, pull_flags, pull_ref] { return run_pull(cli.global, *pull_flags, *pull_ref); };
  });

  auto push_flags = std::make_shared<Flags>();
  auto push_args = std::make_shared<std::pair<std::string, std::string>>();
  auto* push = image->add_subcommand("push", "Push a stored IMAGE to HOST[:PORT]/REPO[:TAG] (only missing blobs move)");
  push->add_option("IMAGE", push_args->first, "Stored image (NAME[:TAG] or sha256:...)")->required();
  push->add_option("REF", push_args->second, "Destination reference")->required();
  push->add_option("--project", push_flags->project,
                   "Resolve IMAGE among this project's build tags (default: the store-wide tag, else the only project's)");
  push->add_option("--chunk-size", push_flags->chunk_size, "Upload blobs in chunks of this size (e.g. 16M); default: one request");
  add_transfer_flags(push, *push_flags);
  push->parse_complete_callback([&cli, push_flags, push_args] {
    cli.action = [&cli, push_flags, push_args] {
      return run_push(cli.global, *push_flags, push_args->first, push_args->second);
    };
  });

  auto* cache_cmd = cli.app.add_subcommand("cache", "Share the build step cache through a registry");
  cache_cmd->require_subcommand(1);
  auto cache_flags = std::make_shared<Flags>();
  auto cache_repo = std::make_shared<std::string>();
  auto* cache_push = cache_cmd->add_subcommand("push", "Publish this store's step cache to HOST[:PORT]/REPO");
  cache_push->add_option("REPO", *cache_repo, "Registry repository")->required();
  add_transfer_flags(cache_push, *cache_flags);
  cache_push->parse_complete_callback([&cli, cache_flags, cache_repo] {
    cli.action = [&cli, cache_flags, cache_repo] { return run_cache_export(cli.global, *cache_flags, *cache_repo); };
  });
  auto* cache_pull = cache_cmd->add_subcommand("pull", "Add the step cache published in HOST[:PORT]/REPO to this store");
  cache_pull->add_option("REPO", *cache_repo, "Registry repository")->required();
  add_transfer_flags(cache_pull, *cache_flags);
  cache_pull->parse_complete_callback([&cli, cache_flags, cache_repo] {
    cli.action = [&cli, cache_flags, cache_repo] { return run_cache_import(cli.global, *cache_flags, *cache_repo); };
  });
  add_shared_cache_flags(cli);

  auto login_flags = std::make_shared<LoginFlags>();
  auto* login = cli.app.add_subcommand("login", "Store credentials for a registry (checked against it first)");
  login->add_option("HOST", login_flags->host, "Registry host[:port]")->required();
  login->add_option("-u,--username", login_flags->username, "User name");
  login->add_option("-p,--password", login_flags->password, "Password (prefer --password-stdin)");
  login->add_flag("--password-stdin", login_flags->password_stdin, "Read the password from stdin");
  add_connection_flags(login, login_flags->flags);
  login->parse_complete_callback([&cli, login_flags] {
    cli.action = [login_flags] { return run_login(*login_flags); };
  });

  auto logout_flags = std::make_shared<LoginFlags>();
  auto* logout = cli.app.add_subcommand("logout", "Remove stored credentials for a registry");
  logout->add_option("HOST", logout_flags->host, "Registry host[:port]")->required();
  logout->add_option("--authfile", logout_flags->flags.options.auth_file, "Credentials file");
  logout->parse_complete_callback([&cli, logout_flags] {
    cli.action = [logout_flags] {
      std::string file = registry::auth_file_for_write(logout_flags->flags.options.auth_file);
      if (auto st = registry::remove_credentials(file, logout_flags->host); !st) return report_error(st.error());
      std::cout << "Removed login credentials for " << logout_flags->host << "\n";
      return kExitOk;
    };
  });
}

}  // namespace gantry::runner
