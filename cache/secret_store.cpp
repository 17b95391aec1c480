#include "cache/secret_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <tuple>

#include "cache/metadata_records.h"
#include "common/file_util.h"
#include "common/read_fd.h"
#include "common/unique_fd.h"

namespace gantry::cache {

namespace {

using nlohmann::json;

std::string to_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// Owner-only and ours: anything else is refused (someone could read it, or
// could have put it there).
Status check_private(const struct stat& st, const std::string& path, unsigned expected_mode) {
  if (st.st_uid != ::geteuid())
    return fail(ErrorKind::invalid_input, "refusing " + path + ": owned by uid " + std::to_string(st.st_uid) +
                                           ", not by the store's owner (uid " + std::to_string(::geteuid()) + ")");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    char want[8];
    std::snprintf(want, sizeof want, "%04o", expected_mode);
    return fail(ErrorKind::invalid_input, "refusing " + path + ": mode " + mode + " lets others read it (expected " +
                                           want + ")");
  }
  return {};
}

// The file's content, or nullopt when it does not exist. Never follows a symlink.
Result<std::optional<std::string>> read_private(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>();
    return fail_sys("open", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_sys("stat", path);
  if (!S_ISREG(st.st_mode)) return fail(ErrorKind::invalid_input, "refusing " + path + ": not a regular file");
  TRY(check_private(st, path, 0600));
  return std::optional<std::string>(TRY(read_fd(fd.get(), path)));
}

// An exclusive flock on secrets/lock for a read-modify-write.
Result<UniqueFd> lock_secrets(const StorePaths& paths) {
  UniqueFd fd(::open(paths.secrets_lock().c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return fail_sys("open", paths.secrets_lock());
  while (::flock(fd.get(), LOCK_EX) != 0)
    if (errno != EINTR) return fail_sys("flock", paths.secrets_lock());
  return fd;
}

Result<std::vector<StoredSecret>> parse_values(const std::string& path, const std::string& text) {
  std::vector<StoredSecret> out;
  try {
    json j = json::parse(text);
    if (!j.is_object() || j.value("format", 0) != kSecretStoreFormat || !j.contains("secrets") ||
        !j["secrets"].is_array())
      return fail(ErrorKind::corrupt, path + ": not a secret store of format " + std::to_string(kSecretStoreFormat));
    for (const auto& e : j["secrets"]) {
      StoredSecret s;
      s.name = e.at("name").get<std::string>();
      s.project = e.value("project", "");
      s.environment = e.value("environment", "");
      auto value = from_hex(e.at("value_hex").get<std::string>());
      if (!value) return fail(ErrorKind::corrupt, path + ": secret " + s.name + ": value_hex is not hex");
      s.value = std::move(*value);
      s.updated_ms = e.value("updated_ms", std::int64_t{0});
      out.push_back(std::move(s));
    }
  } catch (const json::exception& e) {
    return fail(ErrorKind::corrupt, path + ": " + e.what());
  }
  return out;
}

}  // namespace

Status SecretStore::ensure_dir() const {
  const std::string dir = paths_.secrets_dir();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return fail_sys("mkdir", dir);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return fail_sys("stat", dir);
  if (!S_ISDIR(st.st_mode)) return fail(ErrorKind::invalid_input, "refusing " + dir + ": not a directory");
  return check_private(st, dir, 0700);
}

Result<std::vector<StoredSecret>> SecretStore::list() const {
  struct stat st {};
  if (::lstat(paths_.secrets_dir().c_str(), &st) != 0) {
    if (errno == ENOENT) return std::vector<StoredSecret>{};
    return fail_sys("stat", paths_.secrets_dir());
  }
  TRY(ensure_dir());
  auto text = TRY(read_private(paths_.secret_values()));
  if (!text) return std::vector<StoredSecret>{};
  auto out = TRY(parse_values(paths_.secret_values(), *text));
  std::sort(out.begin(), out.end(), [](const StoredSecret& a, const StoredSecret& b) {
    return std::tie(a.name, a.project, a.environment) < std::tie(b.name, b.project, b.environment);
  });
  return out;
}

Status SecretStore::write_values(const std::vector<StoredSecret>& secrets) const {
  json list = json::array();
  for (const auto& s : secrets)
    list.push_back({{"name", s.name},
                    {"project", s.project},
                    {"environment", s.environment},
                    {"value_hex", to_hex(s.value)},
                    {"updated_ms", s.updated_ms}});
  json j = {{"format", kSecretStoreFormat}, {"secrets", list}};
  // The temp file lives in the 0700 dir and is 0600 from its first byte.
  return write_file_atomic(paths_.secret_values(), j.dump(1) + "\n", paths_.secrets_dir(), 0600);
}

Status SecretStore::set(const StoredSecret& secret) {
  TRY(ensure_dir());
  auto lock = TRY(lock_secrets(paths_));
  auto secrets = TRY(list());
  std::erase_if(secrets, [&](const StoredSecret& s) {
    return s.name == secret.name && s.project == secret.project && s.environment == secret.environment;
  });
  StoredSecret added = secret;
  if (added.updated_ms == 0) added.updated_ms = now_ms();
  secrets.push_back(std::move(added));
  return write_values(secrets);
}

Status SecretStore::remove(const std::string& name, const std::string& project, const std::string& environment) {
  TRY(ensure_dir());
  auto lock = TRY(lock_secrets(paths_));
  auto secrets = TRY(list());
  auto removed = std::erase_if(secrets, [&](const StoredSecret& s) {
    return s.name == name && s.project == project && s.environment == environment;
  });
  if (removed == 0)
    return fail(ErrorKind::not_found, "no secret " + name + " for " +
                                          (project.empty() ? std::string("every project") : "project " + project) +
                                          (environment.empty() ? "" : ", environment " + environment) +
                                          " (see gantry secret ls)");
  return write_values(secrets);
}

Result<std::string> SecretStore::hmac_key() const {
  TRY(ensure_dir());
  const std::string path = paths_.secret_hmac_key();
  if (auto key = TRY(read_private(path))) {
    if (key->size() < kMinHmacKeyBytes)
      return fail(ErrorKind::corrupt, path + ": the HMAC key has " + std::to_string(key->size()) +
                                          " bytes, fewer than " + std::to_string(kMinHmacKeyBytes));
    return std::move(*key);
  }
  // First use: 32 random bytes in a 0600 temp file, linked into place; if
  // another process was first, its key wins (link fails with EEXIST).
  std::string key(32, '\0');
  for (std::size_t got = 0; got < key.size();) {
    ssize_t n = ::getrandom(key.data() + got, key.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_sys("getrandom", path);
    }
    got += static_cast<std::size_t>(n);
  }
  std::string tmp = paths_.secrets_dir() + "/key-" + unique_suffix();
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return fail_sys("create", tmp);
    if (::write(fd.get(), key.data(), key.size()) != static_cast<ssize_t>(key.size()) || ::fsync(fd.get()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return fail_sys("write", tmp, err);
    }
  }
  int rc = ::link(tmp.c_str(), path.c_str());
  int err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0 && err != EEXIST) return fail_sys("link", path, err);
  if (rc != 0) return hmac_key();
  TRY(fsync_dir(paths_.secrets_dir()));
  return key;
}

Status SecretStore::set_hmac_key(std::string_view key) {
  if (key.size() < kMinHmacKeyBytes)
    return fail(ErrorKind::invalid_input, "an HMAC key needs at least " + std::to_string(kMinHmacKeyBytes) +
                                              " bytes, got " + std::to_string(key.size()));
  TRY(ensure_dir());
  auto lock = TRY(lock_secrets(paths_));
  return write_file_atomic(paths_.secret_hmac_key(), key, paths_.secrets_dir(), 0600);
}

std::optional<StoredSecret> pick_secret(const std::vector<StoredSecret>& stored, const std::string& name,
                                        const std::string& project, const std::string& environment,
                                        std::vector<std::string>* bound_elsewhere) {
  const StoredSecret* best = nullptr;
  int best_rank = -1;
  for (const auto& s : stored) {
    if (s.name != name || (!s.project.empty() && s.project != project)) continue;
    if (!s.environment.empty() && s.environment != environment) {
      if (bound_elsewhere &&
          std::find(bound_elsewhere->begin(), bound_elsewhere->end(), s.environment) == bound_elsewhere->end())
        bound_elsewhere->push_back(s.environment);
      continue;
    }
    int rank = (s.project.empty() ? 0 : 2) + (s.environment.empty() ? 0 : 1);
    if (rank > best_rank) {
      best = &s;
      best_rank = rank;
    }
  }
  if (!best) return std::nullopt;
  return *best;
}

}  // namespace gantry::cache
