#include "attest/dsse.h"

#include <openssl/evp.h>

#include <cctype>

#include <nlohmann/json.hpp>

namespace gantry::attest {

std::string pae(std::string_view payload_type, std::string_view payload) {
  std::string out = "DSSEv1 ";
  out += std::to_string(payload_type.size());
  out += ' ';
  out += payload_type;
  out += ' ';
  out += std::to_string(payload.size());
  out += ' ';
  out += payload;
  return out;
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  std::string s(text);
  for (auto& c : s) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
  }
  while (s.size() % 4) s += '=';
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '='))
      return fail(ErrorKind::invalid_input, "invalid base64 (character '" + std::string(1, c) + "')");
  std::string out(3 * (s.size() / 4) + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()),
                          static_cast<int>(s.size()));
  if (n < 0) return fail(ErrorKind::invalid_input, "invalid base64");
  std::size_t pad = 0;
  for (auto it = s.rbegin(); it != s.rend() && *it == '=' && pad < 2; ++it) ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::string Envelope::to_json() const {
  nlohmann::json sigs = nlohmann::json::array();
  for (const auto& s : signatures) sigs.push_back({{"keyid", s.keyid}, {"sig", base64_encode(s.sig)}});
  nlohmann::json j = {{"payload", base64_encode(payload)}, {"payloadType", payload_type}, {"signatures", sigs}};
  return j.dump();
}

Result<Envelope> Envelope::parse(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("payload") || !j["payload"].is_string() ||
      !j.contains("payloadType") || !j["payloadType"].is_string())
    return fail(ErrorKind::invalid_input, "not a DSSE envelope (expected an object with payload and payloadType)");
  Envelope e;
  e.payload_type = j["payloadType"].get<std::string>();
  e.payload = TRY_CTX(base64_decode(j["payload"].get<std::string>()), "DSSE payload");
  if (j.contains("signatures") && j["signatures"].is_array())
    for (const auto& s : j["signatures"]) {
      if (!s.is_object() || !s.contains("sig") || !s["sig"].is_string())
        return fail(ErrorKind::invalid_input, "DSSE signature without a sig");
      e.signatures.push_back({s.value("keyid", ""), TRY_CTX(base64_decode(s["sig"].get<std::string>()), "DSSE sig")});
    }
  return e;
}

Status Envelope::sign(const SigningKey& key) {
  auto sig = TRY(key.sign(pae(payload_type, payload)));
  signatures.push_back({key.id(), std::move(sig)});
  return {};
}

bool Envelope::verified_by(const SigningKey& key) const {
  const std::string bytes = pae(payload_type, payload);
  for (const auto& s : signatures) {
    if (!s.keyid.empty() && s.keyid != key.id()) continue;
    if (key.verify(bytes, s.sig)) return true;
  }
  return false;
}

}  // namespace gantry::attest
