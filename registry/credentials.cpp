#include "registry/credentials.h"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/file_util.h"

namespace gantry::registry {
namespace {

using nlohmann::json;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string home_docker_config() {
  if (auto d = env("DOCKER_CONFIG"); !d.empty()) return d + "/config.json";
  std::string home = env("HOME");
  return (home.empty() ? std::string("/root") : home) + "/.docker/config.json";
}

// "https://index.docker.io/v1/" -> "index.docker.io"; "http://h:5000/x" -> "h:5000".
std::string normalize_key(std::string key) {
  if (auto p = key.find("://"); p != std::string::npos) key = key.substr(p + 3);
  if (auto p = key.find('/'); p != std::string::npos) key.resize(p);
  if (key == "index.docker.io" || key == "registry-1.docker.io") key = "docker.io";
  return key;
}

Result<json> load_json(const std::string& path) {
  auto text = read_file(path);
  if (!text) return fail(text.error());
  try {
    json j = json::parse(*text);
    if (!j.is_object()) return fail(ErrorKind::invalid_input, "auth file " + path + ": not a JSON object");
    return j;
  } catch (const json::exception& e) {
    return fail(ErrorKind::invalid_input, "auth file " + path + ": " + e.what());
  }
}

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

Status write_json(const std::string& path, const json& j) {
  std::string dir = dir_of(path);
  TRY(make_dirs(dir, 0700));
  // 0600 from the first byte (the temp file is created so), not chmod'ed after the rename.
  return write_file_atomic(path, j.dump(1, '\t') + "\n", dir, 0600);
}

}  // namespace

std::vector<std::string> auth_file_candidates(const std::string& explicit_file) {
  std::vector<std::string> out;
  if (!explicit_file.empty()) out.push_back(explicit_file);
  if (auto f = env("REGISTRY_AUTH_FILE"); !f.empty()) out.push_back(f);
  if (auto r = env("XDG_RUNTIME_DIR"); !r.empty()) out.push_back(r + "/containers/auth.json");
  out.push_back(home_docker_config());
  return out;
}

std::string auth_file_for_write(const std::string& explicit_file) {
  if (!explicit_file.empty()) return explicit_file;
  if (auto f = env("REGISTRY_AUTH_FILE"); !f.empty()) return f;
  return home_docker_config();
}

Result<std::optional<Credentials>> find_credentials(const std::string& host, const std::string& explicit_file) {
  std::string want = normalize_key(host);
  for (const auto& file : auth_file_candidates(explicit_file)) {
    if (::access(file.c_str(), F_OK) != 0) continue;
    json j = TRY(load_json(file));
    auto auths = j.find("auths");
    if (auths == j.end() || !auths->is_object()) continue;
    for (const auto& [key, entry] : auths->items()) {
      if (normalize_key(key) != want || !entry.is_object()) continue;
      Credentials c;
      if (auto a = entry.find("auth"); a != entry.end() && a->is_string() && !a->get<std::string>().empty()) {
        auto decoded = base64_decode(a->get<std::string>());
        if (!decoded) return fail(decoded.error().context("auth file " + file + ", entry " + key));
        auto colon = decoded->find(':');
        if (colon == std::string::npos)
          return fail(ErrorKind::invalid_input, "auth file " + file + ", entry " + key + ": auth is not user:password");
        c.username = decoded->substr(0, colon);
        c.password = decoded->substr(colon + 1);
      } else {
        c.username = entry.value("username", "");
        c.password = entry.value("password", "");
      }
      if (c.username.empty() && c.password.empty()) continue;
      return std::optional<Credentials>(c);
    }
  }
  return std::optional<Credentials>();
}

Status store_credentials(const std::string& file, const std::string& host, const Credentials& credentials) {
  json j = json::object();
  if (::access(file.c_str(), F_OK) == 0) j = TRY(load_json(file));
  if (!j.contains("auths") || !j["auths"].is_object()) j["auths"] = json::object();
  // Drop other spellings of the same host so the new entry is the one found.
  std::string want = normalize_key(host);
  for (auto it = j["auths"].begin(); it != j["auths"].end();) {
    if (normalize_key(it.key()) == want) it = j["auths"].erase(it);
    else ++it;
  }
  j["auths"][host] = {{"auth", base64_encode(credentials.username + ":" + credentials.password)}};
  return write_json(file, j);
}

Status remove_credentials(const std::string& file, const std::string& host) {
  if (::access(file.c_str(), F_OK) != 0) return fail(ErrorKind::not_found, "not logged in to " + host + " (no " + file + ")");
  json j = TRY(load_json(file));
  bool removed = false;
  if (j.contains("auths") && j["auths"].is_object()) {
    std::string want = normalize_key(host);
    for (auto it = j["auths"].begin(); it != j["auths"].end();) {
      if (normalize_key(it.key()) == want) {
        it = j["auths"].erase(it);
        removed = true;
      } else {
        ++it;
      }
    }
  }
  if (!removed) return fail(ErrorKind::not_found, "not logged in to " + host + " (no entry in " + file + ")");
  return write_json(file, j);
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  if (text.size() % 4 != 0) return fail(ErrorKind::invalid_input, "bad base64 (length not a multiple of 4)");
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return fail(ErrorKind::invalid_input, "bad base64");
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

}  // namespace gantry::registry
