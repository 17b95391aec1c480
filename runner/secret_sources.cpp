#include "runner/secret_sources.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/digest.h"
#include "common/read_fd.h"
#include "common/unique_fd.h"

namespace gantry::runner {

namespace {

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
  return out;
}

}  // namespace

bool valid_secret_name(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

Result<std::string> read_bounded_fd(int fd, const std::string& shown, std::uint64_t max_bytes) {
  // Never more than max+1 bytes: enough to know the value is too big.
  auto out = TRY(read_fd(fd, shown, max_bytes + 1));
  if (out.size() <= max_bytes && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

Result<std::string> read_bounded(const std::string& path, std::uint64_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return fail_sys("open", path);
  return read_bounded_fd(fd.get(), path, max_bytes);
}

Status SecretSources::check_size(const std::string& what, std::size_t size, const std::string& source) const {
  if (size <= max_bytes_) return {};
  return fail(ErrorKind::invalid_input, what + ": " + source + " holds more than " + std::to_string(max_bytes_) +
                                            " bytes, the runner's max_secret_size" +
                                            (config_shown_.empty() ? "" : " (" + config_shown_ + ")") +
                                            "; not read further");
}

Result<std::string> SecretSources::from_store(const std::string& what, const std::string& environment,
                                              const std::string& name) {
  if (!stored_) stored_ = TRY_CTX(store_.list(), what);
  std::vector<std::string> elsewhere;
  auto found = cache::pick_secret(*stored_, name, project_, environment, &elsewhere);
  if (!found) {
    if (!elsewhere.empty())
      return fail(ErrorKind::invalid_input, what + ": the runner's secret store binds " + name +
                                                " to environment" + (elsewhere.size() > 1 ? "s " : " ") +
                                                join(elsewhere) + " only; this stage runs in " + environment);
    return fail(ErrorKind::not_found,
                what + ": the runner provides no secret " + name + " for project " + project_ +
                    " (set it with `gantry secret set " + name + " --project " + project_ +
                    "`, or map it in the runner config's projects." + project_ + ".secrets" +
                    (config_shown_.empty() ? "" : ", " + config_shown_) + ")");
  }
  TRY(check_size(what, found->value.size(), "the secret store's value"));
  return std::move(found->value);
}

Result<ResolvedSecret> SecretSources::resolve(const std::string& stage, const std::string& environment,
                                              const std::string& name) {
  const std::string what = "secret " + name + " of stage " + stage + " (project " + project_ + ", environment " +
                           environment + ")";
  ResolvedSecret out{name, {}, {}};
  if (auto it = policy_.secrets.find(name); it != policy_.secrets.end()) {
    const SecretSource& source = it->second;
    if (!source.environments.empty() &&
        std::find(source.environments.begin(), source.environments.end(), environment) == source.environments.end())
      return fail(ErrorKind::invalid_input,
                  what + ": the runner config" + (config_shown_.empty() ? "" : " " + config_shown_) + " binds " +
                      name + " to environment" + (source.environments.size() > 1 ? "s " : " ") +
                      join(source.environments) + " only; this stage runs in " + environment);
    switch (source.kind) {
      case SecretSource::Kind::file: {
        auto value = read_bounded(source.from, max_bytes_);
        if (!value) return fail(std::move(value).error().context(what));
        TRY(check_size(what, value->size(), "the file " + source.from));
        out.value = std::move(*value);
        break;
      }
      case SecretSource::Kind::env: {
        const char* v = std::getenv(source.from.c_str());
        if (v == nullptr)
          return fail(ErrorKind::not_found,
                      what + ": the runner's environment variable " + source.from + " (mapped in the runner config" +
                          (config_shown_.empty() ? "" : " " + config_shown_) + ") is not set");
        out.value = v;
        TRY(check_size(what, out.value.size(), "the runner's environment variable " + source.from));
        break;
      }
      case SecretSource::Kind::store: out.value = TRY(from_store(what, environment, name)); break;
    }
  } else {
    out.value = TRY(from_store(what, environment, name));
  }
  if (!hmac_key_) hmac_key_ = TRY_CTX(store_.hmac_key(), "the secret store's HMAC key");
  out.keyed_digest = "hmac-sha256:" + hmac_sha256_hex(*hmac_key_, out.value);
  return out;
}

}  // namespace gantry::runner
