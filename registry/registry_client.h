// One registry host spoken to over the OCI distribution API (/v2/...).
// connect() pings /v2/ to settle the scheme (https; plain http only for
// loopback hosts or an explicit --insecure-registry) and how to authenticate
// (anonymous, Basic, or Bearer tokens from the realm the challenge names,
// fetched per repository scope and cached). Every method is thread-safe:
// each call leases one of a pool of keep-alive HTTP connections.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/digest.h"
#include "registry/credentials.h"
#include "registry/http_client.h"

namespace gantry::registry {

struct RegistryOptions {
  std::string ca_file;                           // --ca-file: trusted besides the system CAs
  std::vector<std::string> insecure_registries;  // --insecure-registry HOST (http, or https unverified)
  std::string auth_file;                         // --authfile
  std::optional<Credentials> credentials;        // overrides the auth files (login, tests)
  HttpOptions http;                              // timeouts
  int parallel = 4;                              // concurrent blob transfers
  std::uint64_t chunk_size = 0;                  // 0: monolithic uploads; else PATCH chunks of this size
  bool progress = true;                          // progress lines on a terminal (stderr)
  bool referrers = true;                         // push: the image's referrers (attestations) follow it
  // The seams (docs/architecture.md): null = libcurl and the system clock.
  // Not owned: they outlive every client made with these options.
  Transport* transport = nullptr;  // HTTP
  const Clock* clock = nullptr;    // the backoff between retries
};

// A copy of the counters below, as plain numbers.
struct TransferCounts {
  std::uint64_t requests = 0, blobs_uploaded = 0, bytes_uploaded = 0, blobs_mounted = 0, blobs_present = 0,
                blobs_downloaded = 0, bytes_downloaded = 0, manifests_uploaded = 0, manifests_downloaded = 0;
};

// Counters of one client's traffic: tests assert on them, not on timing.
struct TransferStats {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> blobs_uploaded{0};
  std::atomic<std::uint64_t> bytes_uploaded{0};
  std::atomic<std::uint64_t> blobs_mounted{0};
  std::atomic<std::uint64_t> blobs_present{0};      // HEAD said the other side has it
  std::atomic<std::uint64_t> blobs_downloaded{0};
  std::atomic<std::uint64_t> bytes_downloaded{0};
  std::atomic<std::uint64_t> manifests_uploaded{0};
  std::atomic<std::uint64_t> manifests_downloaded{0};
  TransferCounts snapshot() const {
    return {requests, blobs_uploaded, bytes_uploaded, blobs_mounted, blobs_present,
            blobs_downloaded, bytes_downloaded, manifests_uploaded, manifests_downloaded};
  }
};

// A manifest as the registry sent it: exact bytes, so digests are preserved.
struct FetchedManifest {
  std::string media_type;
  std::string bytes;
  Digest digest;
};

class RegistryClient {
 public:
  // host as in references ("127.0.0.1:5000", "docker.io"). `push` asks
  // tokens for pull,push (else pull) on the repositories it touches.
  static Result<std::unique_ptr<RegistryClient>> connect(const std::string& host, const RegistryOptions& options,
                                                         bool push = false);
  ~RegistryClient();

  const std::string& host() const { return host_; }
  const std::string& base_url() const { return base_url_; }  // "https://host" or "http://host"
  const RegistryOptions& options() const { return options_; }
  TransferStats& stats() { return stats_; }

  // GET a manifest by tag or digest, accepting OCI and Docker schema 2
  // manifests and indexes. The digest is computed from the bytes and checked
  // against `reference` when it is a digest and against Docker-Content-Digest.
  Result<FetchedManifest> get_manifest(const std::string& repo, const std::string& reference);
  // HEAD a manifest: its digest when present, nullopt on 404.
  Result<std::optional<Digest>> head_manifest(const std::string& repo, const std::string& reference);
  // PUT the exact bytes under a tag or digest; returns the digest the registry reports.
  Result<Digest> put_manifest(const std::string& repo, const std::string& reference, const std::string& media_type,
                              const std::string& bytes);

  // Every tag of the repository (following Link pagination); empty when the repository does not exist.
  Result<std::vector<std::string>> list_tags(const std::string& repo);

  Result<bool> has_blob(const std::string& repo, const Digest& digest);
  // Streams the blob (following redirects) into sink; the caller verifies.
  Status get_blob(const std::string& repo, const Digest& digest, const BodySink& sink, const ProgressFn& progress);
  // Uploads `size` bytes of `fd` as `digest` (monolithic or chunked, per options).
  Status upload_blob(const std::string& repo, const Digest& digest, int fd, std::uint64_t size,
                     const ProgressFn& progress);
  // Cross-repository mount from `from_repo` of the same registry. True when
  // mounted; false when the registry declined (the caller uploads instead).
  Result<bool> mount_blob(const std::string& repo, const Digest& digest, const std::string& from_repo);

  // Sends a request with authentication for `repos` (first: the target repo,
  // with pull or pull,push; others: pull), retrying once after a 401.
  Result<HttpResponse> send(HttpRequest request, const std::vector<std::string>& repos);

 private:
  RegistryClient(std::string host, RegistryOptions options, bool push);
  struct Lease;
  std::unique_ptr<HttpConnection> acquire();
  void release(std::unique_ptr<HttpConnection> client);
  Transport& transport() const { return options_.transport ? *options_.transport : curl_transport(); }
  const Clock& clock() const { return options_.clock ? *options_.clock : system_clock(); }
  Status ping();
  Result<HttpResponse> perform_with_retries(const HttpRequest& request);
  Result<std::string> authorization(const std::vector<std::string>& repos, bool refresh);
  Result<std::string> fetch_token(const std::string& scope_key, const std::vector<std::string>& scopes);
  Status upload_chunked(const std::string& repo, std::string location, const Digest& digest, int fd,
                        std::uint64_t size, const ProgressFn& progress);
  Status finish_upload(const std::string& repo, const std::string& location, const Digest& digest, int fd,
                       std::uint64_t size, const ProgressFn& progress);
  std::string absolute(const std::string& location) const;

  std::string host_;
  RegistryOptions options_;
  bool push_;
  std::string base_url_;
  TransferStats stats_;

  std::mutex mutex_;  // guards everything below
  std::vector<std::unique_ptr<HttpConnection>> idle_;
  std::string auth_scheme_;  // "", "basic", "bearer"
  std::string realm_, service_;
  std::optional<Credentials> credentials_;
  std::vector<std::pair<std::string, std::string>> tokens_;  // scope key -> token
};

// "GET <url>: HTTP 404 Not Found: MANIFEST_UNKNOWN manifest unknown" with the
// registry's error document summarised; kind not_found for 404, invalid_input
// for 401/403, io otherwise.
Error http_error(const std::string& what, const HttpResponse& response);

}  // namespace gantry::registry
