#include "tests/support/fake_transport.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>

namespace gantry::testing {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

constexpr std::size_t kChunk = 4096;  // bytes per sink call, like a network read

}  // namespace

std::optional<std::string> RecordedRequest::header(std::string_view name) const {
  std::string want = lower(name) + ":";
  for (const auto& h : headers)
    if (lower(h).starts_with(want)) {
      std::string value = h.substr(want.size());
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      return value;
    }
  return std::nullopt;
}

class FakeTransport::Connection final : public registry::HttpConnection {
 public:
  explicit Connection(FakeTransport& transport) : transport_(transport) {}

  Result<registry::HttpResponse> perform(const registry::HttpRequest& request) override {
    tls_ = connect_ = false;
    std::string what = request.method + " " + request.url;
    RecordedRequest recorded{request.method, request.url, request.headers, request.body.value_or("")};
    if (!request.body && request.body_fd >= 0 && request.body_length > 0) {
      recorded.body.resize(request.body_length);
      ssize_t got = ::pread(request.body_fd, recorded.body.data(), recorded.body.size(),
                            static_cast<off_t>(request.body_offset));
      if (got < 0) return fail(sys_error("read upload body", "fd " + std::to_string(request.body_fd)));
      recorded.body.resize(static_cast<std::size_t>(got));
    }
    if (request.progress && !recorded.body.empty()) request.progress(recorded.body.size());
    FakeReply reply = transport_.answer(recorded);
    if (reply.broken) {
      tls_ = reply.tls;
      connect_ = reply.connect;
      return fail(ErrorKind::io, what + ": " + *reply.broken);
    }
    registry::HttpResponse response;
    response.status = reply.status;
    response.url = request.url;
    for (const auto& [name, value] : reply.headers) response.headers.emplace_back(lower(name), value);
    if (request.method == "HEAD") return response;

    std::string_view body = reply.body;
    bool cut = reply.cut_after && *reply.cut_after < body.size();
    if (cut) body = body.substr(0, *reply.cut_after);
    if (response.ok() && request.sink) {
      for (std::size_t at = 0; at < body.size(); at += kChunk) {
        TRY(request.sink(body.substr(at, kChunk)));
        if (request.progress) request.progress(std::min(body.size(), at + kChunk));
      }
    } else {
      if (body.size() > request.max_body)
        return fail(ErrorKind::invalid_input,
                    what + ": response body larger than " + std::to_string(request.max_body) + " bytes");
      response.body = std::string(body);
    }
    if (cut)
      return fail(ErrorKind::io, what + ": transfer closed with " + std::to_string(reply.body.size() - body.size()) +
                                     " bytes remaining to read");
    return response;
  }

  bool last_error_was_tls() const override { return tls_; }
  bool last_error_was_connect() const override { return connect_; }

 private:
  FakeTransport& transport_;
  bool tls_ = false, connect_ = false;
};

bool FakeTransport::matches(const std::string& key_url, const std::string& url) {
  if (key_url == url) return true;
  auto q = url.find('?');
  return q != std::string::npos && url.compare(0, q, key_url) == 0 && key_url.size() == q;
}

void FakeTransport::on(const std::string& method, const std::string& url, std::vector<FakeReply> replies) {
  std::lock_guard lock(mutex_);
  routes_[method + " " + url] = Route{std::move(replies), 0};
}

FakeReply FakeTransport::answer(const RecordedRequest& request) {
  std::lock_guard lock(mutex_);
  log_.push_back(request);
  Route* route = nullptr;
  if (auto it = routes_.find(request.method + " " + request.url); it != routes_.end()) {
    route = &it->second;
  } else if (auto q = request.url.find('?'); q != std::string::npos) {
    if (auto it2 = routes_.find(request.method + " " + request.url.substr(0, q)); it2 != routes_.end())
      route = &it2->second;
  }
  if (!route || route->replies.empty())
    return {.status = 404,
            .headers = {{"Content-Type", "application/json"}},
            .body = R"({"errors":[{"code":"NAME_UNKNOWN","message":"nothing scripted for )" + request.method + " " +
                    request.url + R"("}]})"};
  FakeReply reply = route->replies[std::min(route->next, route->replies.size() - 1)];
  ++route->next;
  return reply;
}

std::vector<RecordedRequest> FakeTransport::requests() const {
  std::lock_guard lock(mutex_);
  return log_;
}

std::vector<RecordedRequest> FakeTransport::requests(const std::string& method, const std::string& url) const {
  std::lock_guard lock(mutex_);
  std::vector<RecordedRequest> out;
  for (const auto& r : log_)
    if (r.method == method && matches(url, r.url)) out.push_back(r);
  return out;
}

std::size_t FakeTransport::connections_opened() const {
  std::lock_guard lock(mutex_);
  return opened_;
}

std::unique_ptr<registry::HttpConnection> FakeTransport::open(const registry::HttpOptions&) {
  std::lock_guard lock(mutex_);
  ++opened_;
  return std::make_unique<Connection>(*this);
}

}  // namespace gantry::testing
