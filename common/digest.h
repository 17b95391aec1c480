// Content digests: a `Digest` value ("sha256:<64 lowercase hex>") and a
// streaming SHA-256 over OpenSSL EVP.
#pragma once

#include <compare>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace gantry {

class Digest {
 public:
  // Parses "sha256:<64 hex>"; anything else is an invalid_input error.
  static Result<Digest> parse(std::string_view text);
  // From 64 lowercase hex chars (no prefix); invalid_input otherwise.
  static Result<Digest> from_hex(std::string_view hex);
  // SHA-256 of a whole buffer.
  static Digest of(std::string_view data);

  const std::string& hex() const { return hex_; }
  std::string str() const { return "sha256:" + hex_; }
  std::string short_hex(std::size_t n = 12) const { return hex_.substr(0, n); }

  auto operator<=>(const Digest&) const = default;

 private:
  explicit Digest(std::string hex) : hex_(std::move(hex)) {}
  std::string hex_;
};

// For short commands that never talk TLS (gantry exec): OpenSSL starts
// without reading openssl.cnf (~0.3 ms of CPU per command, parsing a file
// whose settings only matter to TLS). Call before the first digest; later
// calls do nothing.
void digest_skip_openssl_config();

// Streaming SHA-256. update() any number of times, then finish() once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  Digest finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// SHA-256 of a file's content, streamed.
Result<Digest> digest_file(const std::string& path);

// HMAC-SHA256 of `data` under `key`, as 64 lowercase hex characters.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace gantry

template <>
struct std::hash<gantry::Digest> {
  std::size_t operator()(const gantry::Digest& d) const noexcept { return std::hash<std::string>()(d.hex()); }
};
