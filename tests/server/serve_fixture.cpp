#include "tests/server/serve_fixture.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

namespace gantry::testing {

namespace {

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::size_t collect_header(char* data, std::size_t size, std::size_t n, void* out) {
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
  }
  return size * n;
}

}  // namespace

nlohmann::json HttpResult::json() const {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    ADD_FAILURE() << "not JSON (status " << status << "): " << e.what() << "\n" << body;
    return nlohmann::json::object();
  }
}

std::string github_signature(const std::string& secret, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(body.data()),
       body.size(), mac, &len);
  std::string hex = "sha256=";
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned i = 0; i < len; ++i) {
    hex.push_back(kHex[mac[i] >> 4]);
    hex.push_back(kHex[mac[i] & 0xf]);
  }
  return hex;
}

SseReader::SseReader(const std::string& url, const std::string& token) {
  thread_ = std::thread([this, url, token] {
    CURL* curl = curl_easy_init();
    struct curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Accept: text/event-stream");
    if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* d, std::size_t s, std::size_t n, void* self) -> std::size_t {
      auto* reader = static_cast<SseReader*>(self);
      if (reader->stop_) return 0;  // aborts the transfer
      reader->feed(d, s * n);
      return s * n;
    });
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION,
                     +[](void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
                       return static_cast<SseReader*>(self)->stop_ ? 1 : 0;
                     });
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, this);
    curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    status_ = code;
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    ended_ = true;
  });
}

SseReader::~SseReader() { stop(); }

void SseReader::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

bool SseReader::wait_connected(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!connected_ && !ended_ && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return connected_;
}

void SseReader::feed(const char* data, std::size_t size) {
  connected_ = true;
  std::lock_guard lock(mutex_);
  buffer_.append(data, size);
  std::size_t nl;
  while ((nl = buffer_.find('\n')) != std::string::npos) {
    std::string line = buffer_.substr(0, nl);
    buffer_.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (!current_.data.empty() || !current_.type.empty()) {
        if (!current_.data.empty() && current_.data.back() == '\n') current_.data.pop_back();
        current_.at = std::chrono::steady_clock::now();
        events_.push_back(current_);
      }
      current_ = {};
    } else if (line.starts_with("data:")) {
      current_.data += line.substr(line.size() > 5 && line[5] == ' ' ? 6 : 5) + "\n";
    } else if (line.starts_with("event:")) {
      current_.type = line.substr(line.size() > 6 && line[6] == ' ' ? 7 : 6);
    } else if (line.starts_with("id:")) {
      current_.id = line.substr(line.size() > 3 && line[3] == ' ' ? 4 : 3);
    }
  }
}

bool SseReader::wait_for(const std::function<bool(const std::vector<SseEvent>&)>& pred,
                         std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mutex_);
      if (pred(events_)) return true;
    }
    if (ended_) {
      std::lock_guard lock(mutex_);
      return pred(events_);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::vector<SseEvent> SseReader::events() {
  std::lock_guard lock(mutex_);
  return events_;
}

void ServeFixture::SetUp() {
  RunFixture::SetUp();
  if (IsSkipped() || HasFatalFailure()) return;
  token_file_ = dir_ / "token";
  secret_file_ = dir_ / "webhook-secret";
  write_file(token_file_, token_ + "\n", 0600);
  write_file(secret_file_, secret_ + "\n", 0600);
}

void ServeFixture::TearDown() {
  if (server_pid_ > 0) kill_server();
}

void ServeFixture::start_server(const std::vector<std::string>& extra) {
  static int started = 0;
  server_log_path_ = dir_ / ("serve-" + std::to_string(++started) + ".log");
  std::vector<std::string> args = {gantry_binary(), "--store", store_};
  for (const auto& g : global_flags()) args.push_back(g);
  for (const auto& a : {"serve", "--listen", listen_.c_str(), "--repo"}) args.push_back(a);
  args.push_back("acme/app=" + repo_);
  for (const auto& a : {"--token-file", token_file_.c_str(), "--webhook-secret-file", secret_file_.c_str()})
    args.push_back(a);
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fd = ::open(server_log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  server_pid_ = pid;
  const std::regex listening("listening on (http://[0-9.]+:[0-9]+)");
  for (int i = 0; i < 300; ++i) {
    std::smatch m;
    std::string log = server_log();
    if (std::regex_search(log, m, listening)) {
      base_url_ = m[1];
      return;
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      server_pid_ = -1;
      FAIL() << "gantry serve exited (" << status << "):\n" << log;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL() << "gantry serve did not start listening:\n" << server_log();
}

int ServeFixture::stop_server(std::chrono::seconds timeout) {
  if (server_pid_ <= 0) return -1;
  ::kill(server_pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(server_pid_, &status, WNOHANG) == server_pid_) {
      server_pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "gantry serve did not stop within " << timeout.count() << " s:\n" << server_log();
  kill_server();
  return -1;
}

void ServeFixture::kill_server() {
  if (server_pid_ <= 0) return;
  ::kill(server_pid_, SIGKILL);
  ::waitpid(server_pid_, nullptr, 0);
  server_pid_ = -1;
}

std::string ServeFixture::server_log() {
  std::ifstream in(server_log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

HttpResult ServeFixture::http(const std::string& method, const std::string& path, const std::string& body,
                              const std::vector<std::string>& headers) {
  HttpResult r;
  CURL* curl = curl_easy_init();
  struct curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  const std::string target = url(path);
  curl_easy_setopt(curl, CURLOPT_URL, target.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
  if (method == "POST" || !body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (list) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r.headers);
  CURLcode rc = curl_easy_perform(curl);
  EXPECT_EQ(rc, CURLE_OK) << method << " " << target << ": " << curl_easy_strerror(rc);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return r;
}

HttpResult ServeFixture::post(const std::string& path, const nlohmann::json& body) {
  return http("POST", path, body.dump(), {"Authorization: Bearer " + token_, "Content-Type: application/json"});
}

nlohmann::json ServeFixture::wait_run(const std::string& id, const std::vector<std::string>& statuses,
                                      std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  nlohmann::json last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = get("/api/v1/runs/" + id);
    if (r.status == 200) {
      last = r.json();
      for (const auto& s : statuses)
        if (last.value("status", "") == s) return last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "run " << id << " did not reach the expected status; last: " << last.dump(2) << "\nserver log:\n"
                << server_log();
  return last;
}

}  // namespace gantry::testing
