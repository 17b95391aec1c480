// The only file that sees Boost.Beast: the listener, one Session per
// keep-alive connection, and SseConnection for text/event-stream replies.
#include "server/http_server.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <optional>
#include <thread>

namespace gantry::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct HttpServer::Impl {
  HttpLimits limits;
  Dispatch dispatch;
  std::atomic<std::size_t>& streams;
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work{ioc.get_executor()};
  tcp::acceptor acceptor{ioc};
  net::signal_set signals{ioc, SIGTERM, SIGINT};
  std::function<void(int)> on_signal;
  std::shared_ptr<spdlog::logger> log;

  mutable std::mutex mutex;
  std::map<unsigned, std::uint64_t> counts;
  std::condition_variable workers_done;
  int workers = 0;  // deferred replies still running

  Impl(HttpLimits l, Dispatch d, std::atomic<std::size_t>& s) : limits(l), dispatch(std::move(d)), streams(s) {
    log = spdlog::get("serve");
    if (!log) {
      log = spdlog::stderr_logger_mt("serve");
      log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %v");
    }
  }

  void count(unsigned status) {
    std::lock_guard lock(mutex);
    ++counts[status];
  }
  void accept();
  void wait_signal();
};

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class SseConnection : public SseStream, public std::enable_shared_from_this<SseConnection> {
 public:
  SseConnection(beast::tcp_stream&& stream, HttpServer::Impl& impl) : stream_(std::move(stream)), impl_(impl) {
    ++impl_.streams;
  }
  ~SseConnection() override { --impl_.streams; }

  void start() {
    stream_.expires_never();
    enqueue("HTTP/1.1 200 OK\r\nServer: gantry\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            "X-Accel-Buffering: no\r\nConnection: close\r\n\r\n");
    watch();
  }

  bool send(std::string framed) override {
    if (closed_) return false;
    net::post(stream_.get_executor(), [self = shared_from_this(), s = std::move(framed)]() mutable {
      self->enqueue(std::move(s));
    });
    return true;
  }

  void finish() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->finishing_ = true;
      if (!self->writing_ && self->queue_.empty()) self->close_now();
    });
  }

  bool closed() const override { return closed_; }

  void every(std::chrono::milliseconds period, std::function<bool()> fn) override {
    auto timer = std::make_shared<net::steady_timer>(stream_.get_executor());
    schedule(std::move(timer), period, std::make_shared<std::function<bool()>>(std::move(fn)));
  }

  void on_close(std::function<void()> fn) override {
    std::unique_lock lock(close_mutex_);
    if (closed_) {
      lock.unlock();
      fn();
      return;
    }
    on_close_.push_back(std::move(fn));
  }

 private:
  void schedule(std::shared_ptr<net::steady_timer> timer, std::chrono::milliseconds period,
                std::shared_ptr<std::function<bool()>> fn) {
    timer->expires_after(period);
    timer->async_wait([self = shared_from_this(), timer, period, fn](beast::error_code ec) {
      if (ec || self->closed_) return;
      if (!(*fn)()) return;
      self->schedule(timer, period, fn);
    });
  }

  // A read that only ends when the client goes away (SSE clients send nothing).
  void watch() {
    stream_.async_read_some(net::buffer(sink_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close_now();
      self->watch();
    });
  }

  void enqueue(std::string s) {
    if (closed_) return;
    constexpr std::size_t kMaxQueued = 50000;  // a client this far behind is dropped
    if (queue_.size() >= kMaxQueued) return close_now();
    queue_.push_back(std::move(s));
    if (!writing_) write_next();
  }

  void write_next() {
    auto chunk = std::make_shared<std::string>();
    while (!queue_.empty() && chunk->size() < 64 * 1024) {
      *chunk += queue_.front();
      queue_.pop_front();
    }
    writing_ = true;
    net::async_write(stream_, net::buffer(*chunk), [self = shared_from_this(), chunk](beast::error_code ec, std::size_t) {
      self->writing_ = false;
      if (ec) return self->close_now();
      if (!self->queue_.empty()) return self->write_next();
      if (self->finishing_) self->close_now();
    });
  }

  void close_now() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(close_mutex_);
      if (closed_) return;
      closed_ = true;
      callbacks.swap(on_close_);
    }
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    for (auto& fn : callbacks) fn();
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& impl_;
  std::deque<std::string> queue_;
  bool writing_ = false;
  bool finishing_ = false;
  std::atomic<bool> closed_{false};
  std::mutex close_mutex_;
  std::vector<std::function<void()>> on_close_;
  std::array<char, 256> sink_{};
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, HttpServer::Impl& impl) : stream_(std::move(socket)), impl_(impl) {}

  void start() {
    beast::error_code ec;
    auto peer = stream_.socket().remote_endpoint(ec);
    if (!ec) peer_ = peer.address().to_string() + ":" + std::to_string(peer.port());
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(impl_.limits.max_body);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(impl_.limits.timeout);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted)
      return close();  // the client left, or was too slow (the stream is closed on timeout)
    if (ec == http::error::body_limit)
      return write(error_response(413, "payload too large",
                                  "request bodies are limited to " + std::to_string(impl_.limits.max_body) + " bytes"),
                   false, "-", "-");
    if (ec == http::error::header_limit)
      return write(error_response(431, "request header fields too large", nullptr), false, "-", "-");
    if (ec) {
      if (ec.category() == http::make_error_code(http::error::bad_target).category())
        return write(error_response(400, "malformed request", ec.message()), false, "-", "-");
      return close();
    }
    started_ = std::chrono::steady_clock::now();
    auto& raw = parser_->get();
    Request req;
    req.method = std::string(raw.method_string());
    const auto raw_target = raw.target();
    std::string_view target(raw_target.data(), raw_target.size());
    auto q = target.find('?');
    req.path = percent_decode(target.substr(0, q), false);
    if (q != std::string_view::npos) req.query = parse_query(target.substr(q + 1));
    for (const auto& field : raw) {
      const auto name = field.name_string();
      req.headers[lower(std::string_view(name.data(), name.size()))] = std::string(field.value());
    }
    req.body = std::move(raw.body());
    const bool keep_alive = raw.keep_alive();
    Reply reply;
    try {
      reply = impl_.dispatch(req);
    } catch (const std::exception& e) {
      reply = error_response(500, "internal error", e.what());
    }
    if (auto* response = std::get_if<Response>(&reply)) return write(std::move(*response), keep_alive, req.method, req.path);
    if (auto* stream = std::get_if<StreamReply>(&reply)) {
      impl_.count(200);
      impl_.log->info("{} {} {} 200 stream", peer_, req.method, req.path);
      auto sse = std::make_shared<SseConnection>(std::move(stream_), impl_);
      sse->start();
      stream->start(sse);
      return;
    }
    auto work = std::move(std::get<DeferredReply>(reply).work);
    {
      std::lock_guard lock(impl_.mutex);
      ++impl_.workers;
    }
    stream_.expires_never();  // the work may take minutes (a promotion runs stages)
    std::thread([self = shared_from_this(), work = std::move(work), keep_alive, method = req.method, path = req.path] {
      Response response;
      try {
        response = work();
      } catch (const std::exception& e) {
        response = error_response(500, "internal error", e.what());
      }
      net::post(self->stream_.get_executor(), [self, response = std::move(response), keep_alive, method, path]() mutable {
        self->write(std::move(response), keep_alive, method, path);
      });
      std::lock_guard lock(self->impl_.mutex);
      if (--self->impl_.workers == 0) self->impl_.workers_done.notify_all();
    }).detach();
  }

  void write(Response r, bool keep_alive, const std::string& method, const std::string& path) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), 11);
    res->set(http::field::server, "gantry");
    res->set(http::field::content_type, r.content_type);
    res->set("X-Content-Type-Options", "nosniff");
    res->set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : r.headers) res->set(name, value);
    res->keep_alive(keep_alive);
    res->body() = std::move(r.body);
    res->prepare_payload();
    impl_.count(r.status);
    if (impl_.log->should_log(spdlog::level::info)) {
      auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
      impl_.log->info("{} {} {} {} {} {:.1f}ms", peer_, method, path, r.status, res->body().size(), ms);
    }
    stream_.expires_after(impl_.limits.timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res, keep_alive](beast::error_code ec, std::size_t) {
      if (ec || !keep_alive) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& impl_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string peer_ = "?";
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;
    if (!ec) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Session>(std::move(socket), *this)->start();
    }
    accept();
  });
}

void HttpServer::Impl::wait_signal() {
  signals.async_wait([this](beast::error_code ec, int sig) {
    if (ec) return;
    if (on_signal) on_signal(sig);
    wait_signal();
  });
}

HttpServer::HttpServer(HttpLimits limits, Dispatch dispatch)
    : impl_(std::make_unique<Impl>(limits, std::move(dispatch), streams_)) {}

HttpServer::~HttpServer() {
  std::unique_lock lock(impl_->mutex);
  impl_->workers_done.wait(lock, [&] { return impl_->workers == 0; });
}

Status HttpServer::listen(const ListenAddress& address) {
  beast::error_code ec;
  auto ip = net::ip::make_address(address.host, ec);
  if (ec) return fail(ErrorKind::invalid_input, "--listen: '" + address.host + "' is not an IP address");
  tcp::endpoint endpoint(ip, address.port);
  const std::string where = address.host + ":" + std::to_string(address.port);
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail(ErrorKind::io, "listening on " + where + ": " + ec.message());
  return {};
}

unsigned short HttpServer::port() const {
  beast::error_code ec;
  auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void HttpServer::on_signal(std::function<void(int)> fn) { impl_->on_signal = std::move(fn); }

void HttpServer::run(int threads) {
  impl_->accept();
  impl_->wait_signal();
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : pool) t.join();
}

void HttpServer::stop_accepting() {
  net::post(impl_->ioc, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
}

void HttpServer::stop() {
  net::post(impl_->ioc, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
    impl_->signals.cancel(ec);
    impl_->work.reset();
    impl_->ioc.stop();
  });
}

std::map<unsigned, std::uint64_t> HttpServer::status_counts() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->counts;
}

}  // namespace gantry::server
