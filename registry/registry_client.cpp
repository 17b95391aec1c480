#include "registry/registry_client.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "registry/auth_challenge.h"
#include "registry/reference.h"

namespace gantry::registry {
namespace {

using nlohmann::json;

constexpr const char* kAcceptManifests =
    "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

std::string status_text(long status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "";
  }
}

std::string strip_params(std::string media_type) {
  if (auto semi = media_type.find(';'); semi != std::string::npos) media_type.resize(semi);
  while (!media_type.empty() && media_type.back() == ' ') media_type.pop_back();
  return media_type;
}

std::string with_query(const std::string& url, const std::string& query) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
}

}  // namespace

Error http_error(const std::string& what, const HttpResponse& response) {
  std::string msg = what + ": HTTP " + std::to_string(response.status);
  if (auto t = status_text(response.status); !t.empty()) msg += " " + t;
  try {
    json j = json::parse(response.body);
    if (j.contains("errors") && j["errors"].is_array()) {
      for (const auto& e : j["errors"]) {
        msg += ": " + e.value("code", std::string()) + " " + e.value("message", std::string());
        if (e.contains("detail") && !e["detail"].is_null()) {
          std::string d = e["detail"].is_string() ? e["detail"].get<std::string>() : e["detail"].dump();
          if (d.size() < 300) msg += " (" + d + ")";
        }
      }
    }
  } catch (const json::exception&) {
    std::string body = response.body.substr(0, 200);
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    if (!body.empty() && body.find('\0') == std::string::npos) msg += ": " + body;
  }
  ErrorKind kind = response.status == 404                             ? ErrorKind::not_found
                   : response.status == 401 || response.status == 403 ? ErrorKind::invalid_input
                                                                       : ErrorKind::io;
  return Error(kind, msg);
}

RegistryClient::RegistryClient(std::string host, RegistryOptions options, bool push)
    : host_(std::move(host)), options_(std::move(options)), push_(push) {}

RegistryClient::~RegistryClient() = default;

Result<std::unique_ptr<RegistryClient>> RegistryClient::connect(const std::string& host,
                                                                const RegistryOptions& options, bool push) {
  std::unique_ptr<RegistryClient> client(new RegistryClient(host, options, push));
  if (options.credentials) {
    client->credentials_ = options.credentials;
  } else {
    client->credentials_ = TRY_CTX(find_credentials(host, options.auth_file), "credentials for " + host);
  }
  TRY(client->ping());
  return client;
}

std::unique_ptr<HttpConnection> RegistryClient::acquire() {
  std::lock_guard lock(mutex_);
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }
  return transport().open(options_.http);
}

void RegistryClient::release(std::unique_ptr<HttpConnection> client) {
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(client));
}

Status RegistryClient::ping() {
  std::string api = RegistryRef{host_, "x", "", {}}.api_host();
  bool insecure = std::any_of(options_.insecure_registries.begin(), options_.insecure_registries.end(),
                              [&](const std::string& h) { return h == host_ || h == api || h == host_without_port(host_); });
  bool plain_ok = insecure || is_loopback_host(host_);
  options_.http.verify_tls = !insecure;
  options_.http.ca_file = options_.ca_file;

  auto client = transport().open(options_.http);
  std::string https = "https://" + api;
  std::string http = "http://" + api;
  auto is_registry_answer = [](const Result<HttpResponse>& a) {
    return a && (a->status == 200 || a->status == 401) && a->header("docker-distribution-api-version");
  };
  Result<HttpResponse> r = fail(ErrorKind::internal, "no attempt");
  if (is_loopback_host(host_)) {
    // Loopback: plain HTTP first (no TLS handshake, no CA bundle to load);
    // a TLS registry answers it with 400, then HTTPS is used.
    r = client->perform({.method = "GET", .url = http + "/v2/"});
    ++stats_.requests;
    if (is_registry_answer(r)) {
      base_url_ = http;
    } else {
      auto plain_error = r ? Error(ErrorKind::io, "GET " + http + "/v2/: HTTP " + std::to_string(r->status))
                           : r.error();
      r = client->perform({.method = "GET", .url = https + "/v2/"});
      ++stats_.requests;
      if (!r) {
        std::string hint = client->last_error_was_tls() ? " (for a private CA use --ca-file)" : "";
        return fail(r.error().context("cannot reach registry " + host_ + hint + " (plain HTTP: " +
                                      plain_error.message() + ")"));
      }
      base_url_ = https;
    }
  } else {
    r = client->perform({.method = "GET", .url = https + "/v2/"});
    ++stats_.requests;
    if (r) {
      base_url_ = https;
    } else {
      bool tls = client->last_error_was_tls();
      if (!plain_ok) {
        std::string hint = tls ? " (for a private CA use --ca-file; for a plain-HTTP registry --insecure-registry " +
                                     host_ + ")"
                               : "";
        return fail(r.error().context("cannot reach registry " + host_ + hint));
      }
      auto plain = client->perform({.method = "GET", .url = http + "/v2/"});
      ++stats_.requests;
      if (!is_registry_answer(plain)) return fail(r.error().context("cannot reach registry " + host_));
      base_url_ = http;
      r = std::move(plain);
    }
  }
  if (r->status == 401) {
    for (const auto& h : r->all("www-authenticate")) {
      for (const auto& ch : parse_www_authenticate(h)) {
        if (ch.scheme == "bearer") {
          auth_scheme_ = "bearer";
          realm_ = ch.param("realm");
          service_ = ch.param("service");
        } else if (ch.scheme == "basic" && auth_scheme_.empty()) {
          auth_scheme_ = "basic";
        }
      }
    }
    if (auth_scheme_.empty())
      return fail(ErrorKind::invalid_input, "registry " + host_ + " asks for an unsupported authentication scheme: " +
                                                r->header("www-authenticate").value_or("(no WWW-Authenticate header)"));
    if (auth_scheme_ == "bearer" && realm_.empty())
      return fail(ErrorKind::invalid_input, "registry " + host_ + ": Bearer challenge without a realm");
  } else if (r->status != 200) {
    return fail(http_error("registry " + host_ + " does not speak the distribution API (GET " + base_url_ + "/v2/)", *r));
  }
  release(std::move(client));
  return {};
}

Result<std::string> RegistryClient::fetch_token(const std::string& scope_key, const std::vector<std::string>& scopes) {
  std::string url = realm_;
  if (!service_.empty()) url = with_query(url, "service=" + url_escape(service_));
  for (const auto& s : scopes) url = with_query(url, "scope=" + url_escape(s));
  HttpRequest req{.method = "GET", .url = url};
  // The realm is the registry's choice: the credentials go there only over
  // verified TLS or to the registry's own host:port.
  bool send_credentials =
      credentials_ && realm_may_receive_credentials(base_url_, realm_, options_.http.verify_tls);
  bool withheld = credentials_ && !send_credentials;
  if (send_credentials)
    req.headers.push_back("Authorization: Basic " + base64_encode(credentials_->username + ":" + credentials_->password));
  if (withheld)
    spdlog::warn("not sending the credentials for {} to the token realm {}: it is neither HTTPS nor {} itself",
                 host_, realm_, host_);
  auto client = acquire();
  auto r = client->perform(req);
  ++stats_.requests;
  if (!r) return fail(r.error().context("getting a token for " + host_));
  release(std::move(client));
  if (!r->ok()) {
    Error e = http_error("token server " + realm_ + " for " + host_, *r);
    if ((r->status == 401 || r->status == 403) && withheld)
      return fail(std::move(e).context("authentication required: the credentials for " + host_ +
                                       " were not sent to the token realm " + realm_ +
                                       " (plain HTTP to another host; only HTTPS or the registry's own host:port "
                                       "receive them)"));
    if (r->status == 401 || r->status == 403)
      return fail(std::move(e).context(credentials_ ? "authentication failed (credentials refused)"
                                                    : "authentication required (no credentials for " + host_ +
                                                          "; run `gantry login " + host_ + "`)"));
    return fail(std::move(e));
  }
  std::string token;
  try {
    json j = json::parse(r->body);
    token = j.value("token", std::string());
    if (token.empty()) token = j.value("access_token", std::string());
  } catch (const json::exception& e) {
    return fail(ErrorKind::invalid_input, "token server " + realm_ + ": bad JSON: " + e.what());
  }
  if (token.empty()) return fail(ErrorKind::invalid_input, "token server " + realm_ + ": no token in the answer");
  std::lock_guard lock(mutex_);
  for (auto& [k, v] : tokens_)
    if (k == scope_key) {
      v = token;
      return token;
    }
  tokens_.emplace_back(scope_key, token);
  return token;
}

Result<std::string> RegistryClient::authorization(const std::vector<std::string>& repos, bool refresh) {
  std::string scheme;
  {
    std::lock_guard lock(mutex_);
    scheme = auth_scheme_;
  }
  if (scheme.empty()) return std::string();
  if (scheme == "basic") {
    if (!credentials_) return std::string();  // the 401 below reports it
    return "Authorization: Basic " + base64_encode(credentials_->username + ":" + credentials_->password);
  }
  std::vector<std::string> scopes;
  for (std::size_t i = 0; i < repos.size(); ++i)
    scopes.push_back("repository:" + repos[i] + ":" + (i == 0 && push_ ? "pull,push" : "pull"));
  std::string key;
  for (const auto& s : scopes) key += s + " ";
  if (!refresh) {
    std::lock_guard lock(mutex_);
    for (const auto& [k, v] : tokens_)
      if (k == key) return "Authorization: Bearer " + v;
  }
  std::string token = TRY(fetch_token(key, scopes));
  return "Authorization: Bearer " + token;
}

Result<HttpResponse> RegistryClient::perform_with_retries(const HttpRequest& request) {
  // GET and HEAD are retried (twice, after 0.2 s and 0.6 s) when the
  // connection broke or the registry answered 502/503/504, as long as no
  // body byte reached the caller's sink: a blob half-written to the store
  // is not resumed here (the caller's writer is discarded, the next pull
  // starts that blob again).
  bool idempotent = request.method == "GET" || request.method == "HEAD";
  bool delivered = false;
  HttpRequest req = request;
  if (request.sink)
    req.sink = [&delivered, &request](std::string_view chunk) {
      delivered = true;
      return request.sink(chunk);
    };
  for (int attempt = 0;; ++attempt) {
    auto client = acquire();
    auto r = client->perform(req);
    ++stats_.requests;
    bool transient = !r ? r.error().kind() == ErrorKind::io && !client->last_error_was_tls()
                        : r->status == 502 || r->status == 503 || r->status == 504;
    if (r) release(std::move(client));  // a broken connection is not reused
    if (!transient || !idempotent || delivered || attempt >= 2) return r;
    clock().sleep_for(std::chrono::milliseconds(200 + 400 * attempt));
  }
}

Result<HttpResponse> RegistryClient::send(HttpRequest request, const std::vector<std::string>& repos) {
  std::string what = request.method + " " + request.url;
  for (int attempt = 0;; ++attempt) {
    std::string auth = TRY(authorization(repos, attempt > 0));
    HttpRequest req = request;
    if (!auth.empty()) req.headers.push_back(auth);
    auto r = perform_with_retries(req);
    if (!r) return fail(r.error());
    if (r->status != 401) return r;
    // 401: the scheme may have changed (a registry that allowed anonymous
    // /v2/ but protects a repository) or the token expired: retry once.
    bool retry = false;
    {
      std::lock_guard lock(mutex_);
      for (const auto& h : r->all("www-authenticate"))
        for (const auto& ch : parse_www_authenticate(h)) {
          if (ch.scheme == "bearer" && !ch.param("realm").empty()) {
            retry = retry || auth_scheme_ != "bearer" || attempt == 0;
            auth_scheme_ = "bearer";
            realm_ = ch.param("realm");
            service_ = ch.param("service");
          } else if (ch.scheme == "basic" && auth_scheme_ != "bearer") {
            retry = retry || (auth_scheme_ != "basic" && credentials_.has_value());
            auth_scheme_ = "basic";
          }
        }
    }
    if (retry && attempt == 0) continue;
    Error e = http_error(what, *r);
    return fail(std::move(e).context(credentials_ ? "authentication failed for " + host_ + " (credentials refused)"
                                                  : "authentication required by " + host_ +
                                                        " (no credentials; run `gantry login " + host_ + "`)"));
  }
}

std::string RegistryClient::absolute(const std::string& location) const {
  if (location.starts_with("http://") || location.starts_with("https://")) return location;
  if (location.starts_with("/")) return base_url_ + location;
  return base_url_ + "/" + location;
}

Result<FetchedManifest> RegistryClient::get_manifest(const std::string& repo, const std::string& reference) {
  std::string url = base_url_ + "/v2/" + repo + "/manifests/" + reference;
  auto r = TRY(send({.method = "GET", .url = url, .headers = {kAcceptManifests}}, {repo}));
  if (!r.ok()) return fail(http_error("GET " + url, r));
  ++stats_.manifests_downloaded;
  FetchedManifest m{strip_params(r.header("content-type").value_or("")), std::move(r.body), Digest::of("")};
  m.digest = Digest::of(m.bytes);
  if (reference.starts_with("sha256:") && m.digest.str() != reference)
    return fail(ErrorKind::corrupt, "manifest " + host_ + "/" + repo + "@" + reference + " arrived with digest " +
                                        m.digest.str() + " (corrupt or tampered)");
  if (auto h = r.header("docker-content-digest"); h && h->starts_with("sha256:") && *h != m.digest.str())
    return fail(ErrorKind::corrupt, "manifest " + host_ + "/" + repo + ":" + reference + " has digest " +
                                        m.digest.str() + " but the registry says " + *h);
  try {
    json j = json::parse(m.bytes);
    if (j.is_object() && j.contains("mediaType") && j["mediaType"].is_string()) m.media_type = j["mediaType"];
  } catch (const json::exception& e) {
    return fail(ErrorKind::invalid_input, "manifest " + host_ + "/" + repo + ":" + reference + ": bad JSON: " + e.what());
  }
  return m;
}

Result<std::optional<Digest>> RegistryClient::head_manifest(const std::string& repo, const std::string& reference) {
  std::string url = base_url_ + "/v2/" + repo + "/manifests/" + reference;
  auto r = TRY(send({.method = "HEAD", .url = url, .headers = {kAcceptManifests}}, {repo}));
  if (r.status == 404) return std::optional<Digest>();
  if (!r.ok()) return fail(http_error("HEAD " + url, r));
  auto h = r.header("docker-content-digest");
  if (!h) return std::optional<Digest>();
  auto d = Digest::parse(*h);
  if (!d) return std::optional<Digest>();
  return std::optional<Digest>(*d);
}

Result<Digest> RegistryClient::put_manifest(const std::string& repo, const std::string& reference,
                                            const std::string& media_type, const std::string& bytes) {
  std::string url = base_url_ + "/v2/" + repo + "/manifests/" + reference;
  auto r = TRY(send({.method = "PUT", .url = url, .headers = {"Content-Type: " + media_type}, .body = bytes}, {repo}));
  if (r.status != 201 && r.status != 200) return fail(http_error("PUT " + url, r));
  ++stats_.manifests_uploaded;
  Digest local = Digest::of(bytes);
  if (auto h = r.header("docker-content-digest"); h && *h != local.str())
    return fail(ErrorKind::corrupt, "PUT " + url + ": registry stored the manifest as " + *h + ", not " + local.str());
  return local;
}

Result<std::vector<std::string>> RegistryClient::list_tags(const std::string& repo) {
  std::vector<std::string> tags;
  std::string url = base_url_ + "/v2/" + repo + "/tags/list?n=1000";
  for (int page = 0; page < 1000 && !url.empty(); ++page) {
    auto r = TRY(send({.method = "GET", .url = url}, {repo}));
    if (r.status == 404) return tags;  // NAME_UNKNOWN: no repository yet
    if (!r.ok()) return fail(http_error("GET " + url, r));
    try {
      auto j = json::parse(r.body);
      if (j.contains("tags") && j["tags"].is_array())
        for (const auto& t : j["tags"])
          if (t.is_string()) tags.push_back(t.get<std::string>());
    } catch (const json::exception& e) {
      return fail(ErrorKind::invalid_input, "GET " + url + ": bad JSON: " + e.what());
    }
    url.clear();
    // Link: </v2/repo/tags/list?last=x&n=1000>; rel="next"
    if (auto link = r.header("link"); link && link->find("rel=\"next\"") != std::string::npos) {
      auto open = link->find('<');
      auto close = link->find('>');
      if (open != std::string::npos && close != std::string::npos && close > open)
        url = absolute(link->substr(open + 1, close - open - 1));
    }
  }
  return tags;
}

Result<bool> RegistryClient::has_blob(const std::string& repo, const Digest& digest) {
  std::string url = base_url_ + "/v2/" + repo + "/blobs/" + digest.str();
  auto r = TRY(send({.method = "HEAD", .url = url, .follow_redirects = true}, {repo}));
  if (r.status == 404) return false;
  if (!r.ok()) return fail(http_error("HEAD " + url, r));
  return true;
}

Status RegistryClient::get_blob(const std::string& repo, const Digest& digest, const BodySink& sink,
                                const ProgressFn& progress) {
  std::string url = base_url_ + "/v2/" + repo + "/blobs/" + digest.str();
  HttpRequest req{.method = "GET", .url = url, .sink = sink, .progress = progress, .follow_redirects = true};
  auto r = TRY(send(std::move(req), {repo}));
  if (!r.ok()) return fail(http_error("GET " + url, r));
  return {};
}

Result<bool> RegistryClient::mount_blob(const std::string& repo, const Digest& digest, const std::string& from_repo) {
  std::string url = base_url_ + "/v2/" + repo + "/blobs/uploads/?mount=" + url_escape(digest.str()) +
                    "&from=" + url_escape(from_repo);
  auto r = TRY(send({.method = "POST", .url = url, .body = std::string()}, {repo, from_repo}));
  if (r.status == 201) {
    ++stats_.blobs_mounted;
    return true;
  }
  if (r.status == 202) {  // declined: an upload session was opened instead; cancel it
    if (auto loc = r.header("location"))
      (void)send({.method = "DELETE", .url = absolute(*loc)}, {repo});
    return false;
  }
  return fail(http_error("POST " + url, r));
}

Status RegistryClient::upload_blob(const std::string& repo, const Digest& digest, int fd, std::uint64_t size,
                                   const ProgressFn& progress) {
  std::string url = base_url_ + "/v2/" + repo + "/blobs/uploads/";
  auto r = TRY(send({.method = "POST", .url = url, .body = std::string()}, {repo}));
  if (r.status != 202) return fail(http_error("POST " + url, r));
  auto loc = r.header("location");
  if (!loc) return fail(ErrorKind::io, "POST " + url + ": no Location for the upload session");
  if (options_.chunk_size > 0 && size > options_.chunk_size)
    TRY(upload_chunked(repo, absolute(*loc), digest, fd, size, progress));
  else
    TRY(finish_upload(repo, absolute(*loc), digest, fd, size, progress));
  ++stats_.blobs_uploaded;
  stats_.bytes_uploaded += size;
  return {};
}

Status RegistryClient::finish_upload(const std::string& repo, const std::string& location, const Digest& digest,
                                     int fd, std::uint64_t size, const ProgressFn& progress) {
  std::string url = with_query(location, "digest=" + url_escape(digest.str()));
  HttpRequest req{.method = "PUT", .url = url, .headers = {"Content-Type: application/octet-stream"}};
  if (fd >= 0 && size > 0) {
    req.body_fd = fd;
    req.body_length = size;
    req.progress = progress;
  } else {
    req.body = std::string();
  }
  auto r = TRY(send(std::move(req), {repo}));
  if (r.status != 201) return fail(http_error("PUT " + host_ + "/" + repo + " blob " + digest.str(), r));
  return {};
}

Status RegistryClient::upload_chunked(const std::string& repo, std::string location, const Digest& digest, int fd,
                                      std::uint64_t size, const ProgressFn& progress) {
  for (std::uint64_t offset = 0; offset < size;) {
    std::uint64_t n = std::min<std::uint64_t>(options_.chunk_size, size - offset);
    HttpRequest req{.method = "PATCH",
                    .url = location,
                    .headers = {"Content-Type: application/octet-stream",
                                "Content-Range: " + std::to_string(offset) + "-" + std::to_string(offset + n - 1)},
                    .body_fd = fd,
                    .body_offset = offset,
                    .body_length = n};
    if (progress) req.progress = [&progress, offset](std::uint64_t done) { progress(offset + done); };
    auto r = TRY(send(std::move(req), {repo}));
    if (r.status != 202) return fail(http_error("PATCH " + host_ + "/" + repo + " blob " + digest.str(), r));
    auto loc = r.header("location");
    if (!loc) return fail(ErrorKind::io, "PATCH " + location + ": no Location for the next chunk");
    location = absolute(*loc);
    offset += n;
  }
  return finish_upload(repo, location, digest, -1, 0, nullptr);
}

}  // namespace gantry::registry
