// One outgoing HTTP(S) POST of the server (notifications, commit statuses),
// through libcurl: no redirects followed (a receiver cannot send a signed
// body or a token elsewhere), http and https only, TLS verified with the
// system CAs, a bound on the whole request. Thread-safe (one easy handle
// per call).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace gantry::server {

struct PostResult {
  long status = 0;    // the HTTP status; 0 when no response came
  std::string error;  // why no response came (connect refused, timeout, ...)
  std::string body;   // the first 2 KiB of the response body
  bool ok() const { return status >= 200 && status < 300; }
  // Worth another attempt: no response, 408, 429 or 5xx.
  bool retryable() const { return status == 0 || status == 408 || status == 429 || status >= 500; }
};

PostResult http_post(const std::string& url, const std::vector<std::string>& headers, const std::string& body,
                     std::chrono::milliseconds timeout);

// "https://host:port" of a URL, for logs: a URL's path and query may carry a
// secret (chat webhooks put theirs there), so only this part is ever logged.
std::string url_origin(const std::string& url);

}  // namespace gantry::server
