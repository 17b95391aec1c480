// Signing keys: ECDSA P-256 with SHA-256, through OpenSSL EVP.
//
//   gantry key generate DIR   -> DIR/gantry.key (PKCS#8 PEM, 0600), DIR/gantry.pub (SPKI PEM)
//
// A signature is DER (ASN.1 SEQUENCE{r, s}), as `openssl dgst -sha256 -sign`
// writes it, so `openssl dgst -sha256 -verify gantry.pub -signature sig.der`
// checks it. A key's id is "sha256:<hex>" of its public key's DER (SPKI),
// the same for the private key and its public half.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"

namespace gantry::attest {

class SigningKey;
// Writes DIR/gantry.key (0600, refuses to overwrite either file) and
// DIR/gantry.pub (0644); returns the key.
Result<SigningKey> generate_key_files(const std::string& dir);

// One key: a private key (can sign and verify) or a public key (verify only).
class SigningKey {
 public:
  // A fresh P-256 key pair.
  static Result<SigningKey> generate();
  // A PEM private key (PKCS#8 or SEC1) or public key (SPKI); errors name
  // `origin` (a path) and what was expected.
  static Result<SigningKey> from_pem(std::string_view pem, const std::string& origin);
  static Result<SigningKey> load(const std::string& path);

  bool has_private() const { return private_; }
  const std::string& id() const { return id_; }
  const std::string& origin() const { return origin_; }
  std::string private_pem() const;  // "" for a public key
  std::string public_pem() const;

  // DER-encoded ECDSA signature of SHA-256(data).
  Result<std::string> sign(std::string_view data) const;
  bool verify(std::string_view data, std::string_view signature_der) const;

 private:
  friend Result<SigningKey> generate_key_files(const std::string& dir);
  struct Pkey;
  std::shared_ptr<Pkey> pkey_;
  bool private_ = false;
  std::string id_;
  std::string origin_;
};


}  // namespace gantry::attest
