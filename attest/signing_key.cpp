#include "attest/signing_key.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include "common/digest.h"
#include "common/file_util.h"

namespace gantry::attest {

struct SigningKey::Pkey {
  EVP_PKEY* key = nullptr;
  ~Pkey() { EVP_PKEY_free(key); }
};

namespace {

std::string openssl_error() {
  unsigned long code = ERR_get_error();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

struct Bio {
  BIO* b;
  Bio() : b(BIO_new(BIO_s_mem())) {}
  explicit Bio(std::string_view data) : b(BIO_new_mem_buf(data.data(), static_cast<int>(data.size()))) {}
  ~Bio() { BIO_free(b); }
  std::string str() const {
    char* p = nullptr;
    long n = BIO_get_mem_data(b, &p);
    return n > 0 ? std::string(p, static_cast<std::size_t>(n)) : std::string();
  }
};

struct MdCtx {
  EVP_MD_CTX* c = EVP_MD_CTX_new();
  ~MdCtx() { EVP_MD_CTX_free(c); }
};

// Only ECDSA over P-256 is accepted: the one algorithm every verifier of
// gantry's signatures has to implement.
Status check_p256(EVP_PKEY* key, const std::string& origin) {
  char group[64] = {};
  std::size_t len = 0;
  if (!EVP_PKEY_is_a(key, "EC") || EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1 ||
      std::string(group) != "prime256v1")
    return fail(ErrorKind::invalid_input, origin + ": not an ECDSA P-256 key (gantry key generate makes one)");
  return {};
}

std::string key_id(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key, &der);
  if (n <= 0) return "";
  std::string id = Digest::of(std::string_view(reinterpret_cast<char*>(der), static_cast<std::size_t>(n))).str();
  OPENSSL_free(der);
  return id;
}

}  // namespace

Result<SigningKey> SigningKey::generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (!key) return fail(ErrorKind::internal, "generating a P-256 key: " + openssl_error());
  SigningKey k;
  k.pkey_ = std::make_shared<Pkey>();
  k.pkey_->key = key;
  k.private_ = true;
  k.id_ = key_id(key);
  k.origin_ = "generated key";
  return k;
}

Result<SigningKey> SigningKey::from_pem(std::string_view pem, const std::string& origin) {
  SigningKey k;
  k.pkey_ = std::make_shared<Pkey>();
  k.origin_ = origin;
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
    Bio bio(pem);
    k.pkey_->key = PEM_read_bio_PrivateKey(bio.b, nullptr, nullptr, nullptr);
    k.private_ = true;
  } else if (pem.find("-----BEGIN PUBLIC KEY-----") != std::string_view::npos) {
    Bio bio(pem);
    k.pkey_->key = PEM_read_bio_PUBKEY(bio.b, nullptr, nullptr, nullptr);
  } else {
    return fail(ErrorKind::invalid_input, origin + ": expected a PEM private key or public key (BEGIN PRIVATE KEY, "
                                                   "BEGIN EC PRIVATE KEY or BEGIN PUBLIC KEY)");
  }
  if (!k.pkey_->key) return fail(ErrorKind::invalid_input, origin + ": unreadable PEM key: " + openssl_error());
  TRY(check_p256(k.pkey_->key, origin));
  k.id_ = key_id(k.pkey_->key);
  return k;
}

Result<SigningKey> SigningKey::load(const std::string& path) {
  auto pem = TRY_CTX(read_file(path), "reading key");
  return from_pem(pem, path);
}

std::string SigningKey::private_pem() const {
  if (!private_) return "";
  Bio bio;
  if (PEM_write_bio_PrivateKey(bio.b, pkey_->key, nullptr, nullptr, 0, nullptr, nullptr) != 1) return "";
  return bio.str();
}

std::string SigningKey::public_pem() const {
  Bio bio;
  if (PEM_write_bio_PUBKEY(bio.b, pkey_->key) != 1) return "";
  return bio.str();
}

Result<std::string> SigningKey::sign(std::string_view data) const {
  if (!private_) return fail(ErrorKind::invalid_input, origin_ + ": a public key cannot sign (give the private key)");
  MdCtx ctx;
  std::size_t len = 0;
  auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  if (!ctx.c || EVP_DigestSignInit(ctx.c, nullptr, EVP_sha256(), nullptr, pkey_->key) != 1 ||
      EVP_DigestSign(ctx.c, nullptr, &len, bytes, data.size()) != 1)
    return fail(ErrorKind::internal, "signing with " + origin_ + ": " + openssl_error());
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.c, reinterpret_cast<unsigned char*>(sig.data()), &len, bytes, data.size()) != 1)
    return fail(ErrorKind::internal, "signing with " + origin_ + ": " + openssl_error());
  sig.resize(len);
  return sig;
}

bool SigningKey::verify(std::string_view data, std::string_view signature_der) const {
  MdCtx ctx;
  if (!ctx.c || EVP_DigestVerifyInit(ctx.c, nullptr, EVP_sha256(), nullptr, pkey_->key) != 1) {
    ERR_clear_error();
    return false;
  }
  int ok = EVP_DigestVerify(ctx.c, reinterpret_cast<const unsigned char*>(signature_der.data()), signature_der.size(),
                            reinterpret_cast<const unsigned char*>(data.data()), data.size());
  ERR_clear_error();
  return ok == 1;
}

Result<SigningKey> generate_key_files(const std::string& dir) {
  TRY(make_dirs(dir));
  const std::string key_path = dir + "/gantry.key";
  const std::string pub_path = dir + "/gantry.pub";
  struct stat st;
  for (const auto& p : {key_path, pub_path})
    if (::lstat(p.c_str(), &st) == 0)
      return fail(ErrorKind::conflict, p + " already exists: not overwriting a key (remove it first)");
  auto key = TRY(SigningKey::generate());
  // The private key is written 0600 from its first byte (write_file_atomic).
  TRY(write_file_atomic(key_path, key.private_pem(), dir, 0600));
  TRY(write_file_atomic(pub_path, key.public_pem(), dir, 0644));
  TRY(fsync_dir(dir));
  key.origin_ = key_path;
  return key;
}

}  // namespace gantry::attest
