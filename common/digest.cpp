#include "common/digest.h"

#include <fcntl.h>
#include <nettle/sha2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <array>
#include <stdexcept>

#include "common/unique_fd.h"

namespace gantry {

namespace {
bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
}  // namespace

void digest_skip_openssl_config() { OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr); }

Result<Digest> Digest::from_hex(std::string_view hex) {
  if (hex.size() != 64 || !is_lower_hex(hex))
    return fail(ErrorKind::invalid_input,
                "malformed sha256 digest '" + std::string(hex) + "': expected 64 lowercase hex characters");
  return Digest(std::string(hex));
}

Result<Digest> Digest::parse(std::string_view text) {
  constexpr std::string_view prefix = "sha256:";
  if (!text.starts_with(prefix))
    return fail(ErrorKind::invalid_input,
                "malformed digest '" + std::string(text) + "': expected sha256:<64 lowercase hex characters>");
  auto hex = text.substr(prefix.size());
  if (hex.size() != 64 || !is_lower_hex(hex))
    return fail(ErrorKind::invalid_input,
                "malformed digest '" + std::string(text) + "': expected sha256:<64 lowercase hex characters>");
  return Digest(std::string(hex));
}

namespace {
Digest digest_from_bytes(const unsigned char* bytes, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    hex.push_back(kHex[bytes[i] >> 4]);
    hex.push_back(kHex[bytes[i] & 0xf]);
  }
  return *Digest::from_hex(hex);
}
}  // namespace

// Nettle, not OpenSSL: OpenSSL 3's first digest of a process fetches its
// provider's algorithms (~0.7 ms), which every `gantry exec` paid to verify a
// 400-byte manifest. Nettle starts in microseconds; OpenSSL stays for the
// streams (Sha256: layers, blobs), where it is ~10% faster on this CPU.
Digest Digest::of(std::string_view data) {
  sha256_ctx ctx;
  sha256_init(&ctx);
  sha256_update(&ctx, data.size(), reinterpret_cast<const std::uint8_t*>(data.data()));
  std::array<unsigned char, SHA256_DIGEST_SIZE> out{};
  sha256_digest(&ctx, out.size(), out.data());
  return digest_from_bytes(out.data(), out.size());
}

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("OpenSSL: cannot initialise SHA-256");
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, std::size_t size) { EVP_DigestUpdate(ctx_->md, data, size); }

Digest Sha256::finish() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, out.data(), &len);
  return digest_from_bytes(out.data(), len);
}

Result<Digest> digest_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_sys("open", path);
  Sha256 h;
  std::array<char, 1 << 16> buf;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_sys("read", path);
    }
    if (n == 0) break;
    h.update(buf.data(), static_cast<std::size_t>(n));
  }
  return h.finish();
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), mac, &len) == nullptr)
    throw std::runtime_error("HMAC-SHA256 failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 15]);
  }
  return out;
}

}  // namespace gantry
