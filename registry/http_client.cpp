#include "registry/http_client.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <mutex>

namespace gantry::registry {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// Per-transfer state shared with the callbacks.
struct Transfer {
  CURL* curl;
  const HttpRequest* request;
  HttpResponse* response;
  std::optional<Error> sink_error;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  bool body_overflow = false;
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    t->response->headers.clear();  // a new response (after a redirect or 100-continue)
    return line.size();
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return line.size();
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  t->response->headers.emplace_back(lower(line.substr(0, colon)), std::string(value));
  return line.size();
}

size_t on_write(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300 && t->request->sink) {
    if (auto st = t->request->sink(std::string_view(data, n)); !st) {
      t->sink_error = st.error();
      return 0;  // aborts with CURLE_WRITE_ERROR
    }
    t->received += n;
    if (t->request->progress) t->request->progress(t->received);
    return n;
  }
  if (t->response->body.size() + n > t->request->max_body) {
    t->body_overflow = true;
    return 0;
  }
  t->response->body.append(data, n);
  return n;
}

size_t on_read(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const HttpRequest& r = *t->request;
  size_t want = size * count;
  size_t n = 0;
  if (r.body) {
    n = std::min<std::uint64_t>(want, r.body->size() - t->sent);
    std::memcpy(buffer, r.body->data() + t->sent, n);
  } else {
    std::uint64_t left = r.body_length - t->sent;
    size_t chunk = static_cast<size_t>(std::min<std::uint64_t>(want, left));
    if (chunk == 0) return 0;
    ssize_t got = ::pread(r.body_fd, buffer, chunk, static_cast<off_t>(r.body_offset + t->sent));
    if (got < 0) {
      t->sink_error = sys_error("read upload body", "fd " + std::to_string(r.body_fd));
      return CURL_READFUNC_ABORT;
    }
    if (got == 0) {
      t->sink_error = Error(ErrorKind::io, "upload body ended early (file shrank?)");
      return CURL_READFUNC_ABORT;
    }
    n = static_cast<size_t>(got);
  }
  t->sent += n;
  if (r.progress) r.progress(t->sent);
  return n;
}

int on_seek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0) return CURL_SEEKFUNC_CANTSEEK;
  t->sent = static_cast<std::uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

// Adds the extra CA file to the store curl built from the system CAs.
CURLcode on_ssl_ctx(CURL*, void* ssl_ctx, void* user) {
  const auto* ca_file = static_cast<const std::string*>(user);
  X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
  if (!store || X509_STORE_load_file(store, ca_file->c_str()) != 1) return CURLE_SSL_CACERT_BADFILE;
  return CURLE_OK;
}

bool is_tls_code(CURLcode rc) {
  switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_USE_SSL_FAILED:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  std::string key = lower(name);
  for (const auto& [k, v] : headers)
    if (k == key) return v;
  return std::nullopt;
}

std::vector<std::string> HttpResponse::all(std::string_view name) const {
  std::string key = lower(name);
  std::vector<std::string> out;
  for (const auto& [k, v] : headers)
    if (k == key) out.push_back(v);
  return out;
}

namespace {
class CurlTransport final : public Transport {
 public:
  std::unique_ptr<HttpConnection> open(const HttpOptions& options) override {
    return std::make_unique<HttpClient>(options);
  }
};
}  // namespace

Transport& curl_transport() {
  static CurlTransport transport;
  return transport;
}

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) {
  global_init();
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<HttpResponse> HttpClient::perform(const HttpRequest& request) {
  CURL* curl = static_cast<CURL*>(curl_);
  std::string what = request.method + " " + request.url;
  if (!curl) return fail(ErrorKind::internal, what + ": curl_easy_init failed");
  curl_easy_reset(curl);  // keeps the connection cache
  last_error_tls_ = false;
  last_error_connect_ = false;

  HttpResponse response;
  Transfer t{curl, &request, &response, std::nullopt};
  Slist headers;
  auto add_header = [&](const std::string& h) { headers.reset(curl_slist_append(headers.release(), h.c_str())); };
  for (const auto& h : request.headers) add_header(h);
  add_header("Expect:");  // no 100-continue round trip before uploads
  add_header("User-Agent: gantry/0.1");

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stall_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (request.follow_redirects) {
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  }
  if (!options_.verify_tls) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (!options_.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, &options_.ca_file);
  }

  bool has_body = request.body.has_value() || request.body_fd >= 0;
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (has_body || request.method == "PUT" || request.method == "POST" || request.method == "PATCH") {
    std::uint64_t length = request.body ? request.body->size() : (request.body_fd >= 0 ? request.body_length : 0);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(length));
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &t);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &t);
    curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
    if (request.method != "PUT") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  char* effective = nullptr;
  curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective);
  response.url = effective ? effective : request.url;
  if (rc != CURLE_OK) {
    if (t.sink_error) return fail(*t.sink_error);
    if (t.body_overflow)
      return fail(ErrorKind::invalid_input,
                  what + ": response body larger than " + std::to_string(request.max_body) + " bytes");
    last_error_tls_ = is_tls_code(rc);
    last_error_connect_ = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                          rc == CURLE_OPERATION_TIMEDOUT;
    std::string reason = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    return fail(ErrorKind::io, what + ": " + reason);
  }
  return response;
}

std::string url_escape(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace gantry::registry
