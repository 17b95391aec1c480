#include "server/serve_config.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <functional>
#include <map>

#include "common/file_util.h"
#include "common/units.h"
#include "server/serve_config_outgoing.h"

namespace gantry::server {

namespace {

std::string at(const std::string& path, const YAML::Node& node, const std::string& key) {
  auto mark = node.Mark();
  return path + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ": " + key;
}

// The last path component of a URL or path, without ".git" and trailing '/'.
std::string strip_git(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  if (s.ends_with(".git")) s.resize(s.size() - 4);
  return s;
}

Result<RepoConfig> parse_repo_node(const std::string& path, const YAML::Node& node, const std::string& key) {
  if (node.IsScalar()) {
    auto repo = parse_repo_spec(node.as<std::string>());
    if (!repo) return fail(ErrorKind::invalid_input, at(path, node, key) + ": " + repo.error().message());
    return repo;
  }
  if (!node.IsMap()) return fail(ErrorKind::invalid_input, at(path, node, key) + ": expected NAME=URL or {name, url|path}");
  RepoConfig repo;
  std::string spec;
  for (const auto& item : node) {
    const auto name = item.first.as<std::string>();
    const std::string where = at(path, item.second, key + "." + name);
    if (name == "branches") {
      if (!item.second.IsSequence()) return fail(ErrorKind::invalid_input, where + ": expected a list of branch names");
      for (const auto& b : item.second) {
        if (!b.IsScalar() || b.as<std::string>().empty())
          return fail(ErrorKind::invalid_input, at(path, b, key + ".branches") + ": expected a branch name");
        repo.branches.push_back(b.as<std::string>());
      }
      continue;
    }
    if (!item.second.IsScalar()) return fail(ErrorKind::invalid_input, where + ": expected a string");
    if (name == "name") repo.name = item.second.as<std::string>();
    else if (name == "url" || name == "path") spec = item.second.as<std::string>();
    else if (name == "poll") {
      auto d = parse_duration(item.second.as<std::string>());
      if (!d) return fail(ErrorKind::invalid_input, where + ": " + d.error().message());
      if (d->count() <= 0) return fail(ErrorKind::invalid_input, where + ": expected a positive duration (30s, 5m)");
      repo.poll = *d;
    } else
      return fail(ErrorKind::invalid_input,
                  at(path, item.first, key + "." + name) + ": unknown key (name, url, path, branches, poll)");
  }
  if (spec.empty()) return fail(ErrorKind::invalid_input, at(path, node, key) + ": needs url or path");
  auto parsed = parse_repo_spec(repo.name.empty() ? spec : repo.name + "=" + spec);
  if (!parsed) return fail(ErrorKind::invalid_input, at(path, node, key) + ": " + parsed.error().message());
  parsed->branches = std::move(repo.branches);
  parsed->poll = repo.poll;
  if (!parsed->branches.empty() && parsed->poll.count() == 0) parsed->poll = RepoConfig::kDefaultPoll;
  if (parsed->branches.empty() && parsed->poll.count() > 0) parsed->branches.push_back("");  // HEAD's branch
  return parsed;
}

}  // namespace

Result<RepoConfig> parse_repo_spec(const std::string& spec) {
  RepoConfig repo;
  // NAME=LOCATION: a '=' before any URL scheme, in a spec that is not a path.
  const auto eq = spec.find('=');
  const auto scheme = spec.find("://");
  if (eq != std::string::npos && (scheme == std::string::npos || eq < scheme) && !spec.starts_with("/") &&
      !spec.starts_with(".")) {
    repo.name = spec.substr(0, eq);
    repo.location = spec.substr(eq + 1);
  }
  if (repo.location.empty()) repo.location = spec;
  if (repo.location.empty()) return fail(ErrorKind::invalid_input, "--repo '" + spec + "': empty location");
  if (repo.name.empty()) {
    std::string s = strip_git(repo.location);
    if (auto url_scheme = s.find("://"); url_scheme != std::string::npos) {
      auto last = s.rfind('/');
      auto before = last == std::string::npos || last == 0 ? std::string::npos : s.rfind('/', last - 1);
      repo.name = before == std::string::npos || before < url_scheme + 3 ? s.substr(last + 1) : s.substr(before + 1);
    } else {
      auto last = s.rfind('/');
      repo.name = last == std::string::npos ? s : s.substr(last + 1);
    }
  }
  if (repo.name.empty()) return fail(ErrorKind::invalid_input, "--repo '" + spec + "': cannot derive a name; use NAME=" + spec);
  return repo;
}

Status load_serve_config(const std::string& path, ServeConfig& config) {
  auto text = TRY_CTX(read_file(path), "serve config");
  try {
    YAML::Node root = YAML::Load(text);
    if (root.IsNull()) return {};
    if (!root.IsMap()) return fail(ErrorKind::invalid_input, path + ": expected a mapping of settings");
    using Setter = std::function<Status(const YAML::Node&, const std::string&)>;
    auto str = [&](std::string& out) -> Setter {
      return [&out, &path](const YAML::Node& n, const std::string& key) -> Status {
        if (!n.IsScalar()) return fail(ErrorKind::invalid_input, at(path, n, key) + ": expected a string");
        out = n.as<std::string>();
        return {};
      };
    };
    auto duration = [&](std::chrono::milliseconds& out) -> Setter {
      return [&out, &path](const YAML::Node& n, const std::string& key) -> Status {
        auto d = parse_duration(n.IsScalar() ? n.as<std::string>() : "");
        if (!d) return fail(ErrorKind::invalid_input, at(path, n, key) + ": " + d.error().message());
        out = *d;
        return {};
      };
    };
    std::map<std::string, Setter> keys = {
        {"listen", str(config.listen)},
        {"store", str(config.store)},
        {"token_file", str(config.token_file)},
        {"read_token_file", str(config.read_token_file)},
        {"webhook_secret_file", str(config.webhook_secret_file)},
        {"runner_config", str(config.runner_config)},
        {"signing_key", str(config.signing_key)},
        {"grace", duration(config.grace)},
        {"client_timeout", duration(config.client_timeout)},
        {"max_runs",
         [&](const YAML::Node& n, const std::string& key) -> Status {
           const std::string v = n.IsScalar() ? n.as<std::string>() : "";
           int out = 0;
           auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
           if (ec != std::errc() || end != v.data() + v.size() || out < 1)
             return fail(ErrorKind::invalid_input, at(path, n, key) + ": expected a positive number");
           config.max_runs = out;
           return {};
         }},
        {"max_body",
         [&](const YAML::Node& n, const std::string& key) -> Status {
           auto size = parse_byte_size(n.IsScalar() ? n.as<std::string>() : "");
           if (!size) return fail(ErrorKind::invalid_input, at(path, n, key) + ": " + size.error().message());
           config.max_body = *size;
           return {};
         }},
        {"public_url", str(config.public_url)},
        {"notifications",
         [&](const YAML::Node& n, const std::string& key) { return parse_notifications(path, n, key, config); }},
        {"commit_status",
         [&](const YAML::Node& n, const std::string& key) { return parse_commit_status(path, n, key, config); }},
        {"outgoing", [&](const YAML::Node& n, const std::string& key) { return parse_outgoing(path, n, key, config); }},
        {"schedules",
         [&](const YAML::Node& n, const std::string& key) { return parse_schedules(path, n, key, config); }},
        {"repos",
         [&](const YAML::Node& n, const std::string& key) -> Status {
           if (!n.IsSequence()) return fail(ErrorKind::invalid_input, at(path, n, key) + ": expected a list");
           for (std::size_t i = 0; i < n.size(); ++i)
             config.repos.push_back(TRY(parse_repo_node(path, n[i], key + "[" + std::to_string(i) + "]")));
           return {};
         }},
    };
    for (const auto& item : root) {
      const auto key = item.first.as<std::string>();
      auto it = keys.find(key);
      if (it == keys.end()) {
        std::string known;
        for (const auto& [k, _] : keys) known += (known.empty() ? "" : ", ") + k;
        return fail(ErrorKind::invalid_input, at(path, item.first, key) + ": unknown key (known: " + known + ")");
      }
      TRY(it->second(item.second, key));
    }
  } catch (const YAML::ParserException& e) {
    return fail(ErrorKind::invalid_input, path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                              std::to_string(e.mark.column + 1) + ": invalid YAML: " + e.msg);
  } catch (const YAML::Exception& e) {
    return fail(ErrorKind::invalid_input, path + ": " + e.what());
  }
  return {};
}

Result<ListenAddress> parse_listen(const std::string& listen) {
  ListenAddress out;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return fail(ErrorKind::invalid_input, "--listen '" + listen + "': expected HOST:PORT");
  out.host = listen.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') out.host = out.host.substr(1, out.host.size() - 2);
  if (out.host.empty()) out.host = "0.0.0.0";
  const std::string port = listen.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535)
    return fail(ErrorKind::invalid_input, "--listen '" + listen + "': bad port '" + port + "'");
  out.port = static_cast<unsigned short>(value);
  return out;
}

Result<std::string> read_secret_file(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::unexpected(fail_sys("stat", path).error().context(what));
  if (st.st_mode & S_IROTH)
    return fail(ErrorKind::invalid_input, what + " " + path + " is readable by every user (chmod o-r " + path + ")");
  auto text = TRY_CTX(read_file(path), what);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return fail(ErrorKind::invalid_input, what + " " + path + " is empty");
  return text;
}

}  // namespace gantry::server
