// DSSE envelopes and ECDSA P-256 keys, checked against an independent
// implementation: the openssl command-line tool verifies a signature gantry
// made over the PAE bytes.
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "attest/dsse.h"
#include "attest/signing_key.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

TEST(Dsse, PaeIsTheSpecExample) {
  // The example of the DSSE protocol document.
  EXPECT_EQ(attest::pae("http://example.com/HelloWorld", "hello world"),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  EXPECT_EQ(attest::pae("", ""), "DSSEv1 0  0 ");
}

TEST(Dsse, Base64RoundTripsEveryLength) {
  std::string data;
  for (int i = 0; i < 70; ++i) {
    auto back = attest::base64_decode(attest::base64_encode(data));
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, data);
    data += static_cast<char>(i * 37);
  }
  EXPECT_EQ(attest::base64_encode("hello"), "aGVsbG8=");
  EXPECT_EQ(*attest::base64_decode("aGVsbG8"), "hello");  // padding optional
  EXPECT_FALSE(attest::base64_decode("a$b"));
}

TEST(Dsse, KeyGenerate_WritesA0600PrivateKeyAndAPublicKey_OpensslVerifiesTheSignatureOverPae) {
  ScratchDir dir;
  auto r = run_command({gantry_binary(), "key", "generate", dir / "keys", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto out = nlohmann::json::parse(r.out);
  struct stat st;
  ASSERT_EQ(::stat((dir / "keys/gantry.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir / "keys/gantry.pub").c_str(), &st), 0);
  // Never overwritten.
  EXPECT_NE(run_command({gantry_binary(), "key", "generate", dir / "keys"}).exit_code, 0);

  auto key = attest::SigningKey::load(dir / "keys/gantry.key");
  ASSERT_TRUE(key) << key.error().message();
  auto pub = attest::SigningKey::load(dir / "keys/gantry.pub");
  ASSERT_TRUE(pub) << pub.error().message();
  EXPECT_EQ(key->id(), pub->id());
  EXPECT_EQ(key->id(), out.value("keyid", ""));
  EXPECT_FALSE(pub->has_private());

  attest::Envelope env{attest::kInTotoPayloadType, R"({"_type":"https://in-toto.io/Statement/v1"})", {}};
  ASSERT_TRUE(env.sign(*key));
  auto parsed = attest::Envelope::parse(env.to_json());
  ASSERT_TRUE(parsed) << parsed.error().message();
  ASSERT_EQ(parsed->signatures.size(), 1u);
  EXPECT_EQ(parsed->signatures[0].keyid, key->id());
  EXPECT_TRUE(parsed->verified_by(*pub));

  // The openssl CLI, given the PAE bytes and the DER signature, agrees.
  write_file(dir / "pae.bin", attest::pae(parsed->payload_type, parsed->payload));
  write_file(dir / "sig.der", parsed->signatures[0].sig);
  auto ok = run_command({"openssl", "dgst", "-sha256", "-verify", dir / "keys/gantry.pub", "-signature",
                         dir / "sig.der", dir / "pae.bin"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("Verified OK"), std::string::npos) << ok.out;
  // ... and refuses it over the payload alone (the signature covers the PAE).
  write_file(dir / "payload.bin", parsed->payload);
  auto bad = run_command({"openssl", "dgst", "-sha256", "-verify", dir / "keys/gantry.pub", "-signature",
                          dir / "sig.der", dir / "payload.bin"});
  EXPECT_NE(bad.exit_code, 0) << bad.out;
}

TEST(Dsse, ASignatureByOpensslVerifiesInGantry_TamperedPayloadOrOtherKeyDoNot) {
  ScratchDir dir;
  ASSERT_EQ(run_command({gantry_binary(), "key", "generate", dir / "a"}).exit_code, 0);
  ASSERT_EQ(run_command({gantry_binary(), "key", "generate", dir / "b"}).exit_code, 0);
  const std::string type = attest::kInTotoPayloadType;
  const std::string payload = R"({"x":1})";
  write_file(dir / "pae.bin", attest::pae(type, payload));
  auto r = run_command({"openssl", "dgst", "-sha256", "-sign", dir / "a/gantry.key", "-out", dir / "sig.der",
                        dir / "pae.bin"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  attest::Envelope env{type, payload, {{"", read_file_or_die(dir / "sig.der")}}};
  auto a = attest::SigningKey::load(dir / "a/gantry.pub");
  auto b = attest::SigningKey::load(dir / "b/gantry.pub");
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(env.verified_by(*a));
  EXPECT_FALSE(env.verified_by(*b));
  env.payload = R"({"x":2})";
  EXPECT_FALSE(env.verified_by(*a));
  env.payload = payload;
  env.payload_type = "text/plain";  // the type is signed too
  EXPECT_FALSE(env.verified_by(*a));
}

TEST(Dsse, RejectsKeysThatAreNotP256) {
  ScratchDir dir;
  ASSERT_EQ(run_command({"openssl", "genpkey", "-algorithm", "ed25519", "-out", dir / "ed.key"}).exit_code, 0);
  auto k = attest::SigningKey::load(dir / "ed.key");
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().message().find("not an ECDSA P-256 key"), std::string::npos) << k.error().message();
  write_file(dir / "junk.pem", "hello");
  EXPECT_FALSE(attest::SigningKey::load(dir / "junk.pem"));
}

}  // namespace
}  // namespace gantry::testing
