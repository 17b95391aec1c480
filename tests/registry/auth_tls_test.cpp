// Authentication (htpasswd basic auth, gantry login, auth files) and TLS
// (a certificate made for the test, --ca-file) against docker-registry.
#include <gtest/gtest.h>

#include "tests/registry/local_registry.h"
#include "tests/registry/test_images.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

TEST(RegistryAuth, PushWithoutCredentialsIsRefusedNamingTheReference) {
  LocalRegistry registry({.user = "ci", .password = "right-pw"});
  ASSERT_EQ(registry.error(), "");
  ScratchDir dir;
  make_test_image(dir / "a", "app:1", 1024, 11);
  std::string dest = registry.host() + "/team/app:1";
  auto r = run_command({gantry_binary(), "--store", dir / "a", "image", "push", "app:1", dest, "--authfile",
                        dir / "none.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(dest), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("authentication required"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;
}

TEST(RegistryAuth, WrongPasswordIsRefusedAndLoginStoresWorkingCredentials) {
  LocalRegistry registry({.user = "ci", .password = "right-pw"});
  ASSERT_EQ(registry.error(), "");
  ScratchDir dir;
  Digest local = make_test_image(dir / "a", "app:1", 1024, 12);
  std::string dest = registry.host() + "/team/app:1";
  std::string authfile = dir / "auth.json";

  auto bad_login = run_shell("echo wrong-pw | " + gantry_binary() + " login " + registry.host() +
                             " -u ci --password-stdin --authfile " + authfile);
  EXPECT_EQ(bad_login.exit_code, 1);
  EXPECT_NE(bad_login.err.find("authentication failed"), std::string::npos) << bad_login.err;

  // Credentials written by someone else (podman's format), wrong password.
  write_file(dir / "wrong.json", R"({"auths":{")" + registry.host() + R"(":{"auth":"Y2k6d3JvbmctcHc="}}})");
  auto wrong = run_command({gantry_binary(), "--store", dir / "a", "image", "push", "app:1", dest, "--authfile",
                            dir / "wrong.json"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find(dest), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find("credentials refused"), std::string::npos) << wrong.err;

  auto login = run_shell("echo right-pw | " + gantry_binary() + " login " + registry.host() +
                         " -u ci --password-stdin --authfile " + authfile);
  ASSERT_EQ(login.exit_code, 0) << login.err;
  auto push = run_command({gantry_binary(), "--store", dir / "a", "image", "push", "app:1", dest, "--authfile", authfile});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  // $REGISTRY_AUTH_FILE is read too.
  auto pull = run_command({gantry_binary(), "--store", dir / "b", "image", "pull", dest},
                          {"REGISTRY_AUTH_FILE=" + authfile});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  EXPECT_EQ(resolve_in_store(dir / "b", dest), local.str());
  auto logout = run_command({gantry_binary(), "logout", registry.host(), "--authfile", authfile});
  EXPECT_EQ(logout.exit_code, 0) << logout.err;
  auto after = run_command({gantry_binary(), "--store", dir / "c", "image", "pull", dest, "--authfile", authfile});
  EXPECT_EQ(after.exit_code, 1);
}

TEST(RegistryTls, CertificateIsVerifiedAndCaFileIsTrusted) {
  LocalRegistry registry({.tls = true});
  ASSERT_EQ(registry.error(), "");
  ScratchDir dir;
  Digest local = make_test_image(dir / "a", "app:1", 1024, 13);
  std::string dest = registry.host() + "/team/app:1";
  auto untrusted = run_gantry(dir / "a", {"image", "push", "app:1", dest});
  EXPECT_EQ(untrusted.exit_code, 1);
  EXPECT_NE(untrusted.err.find("certificate"), std::string::npos) << untrusted.err;
  EXPECT_NE(untrusted.err.find(dest), std::string::npos) << untrusted.err;

  auto push = run_gantry(dir / "a", {"image", "push", "app:1", dest, "--ca-file", registry.ca_file()});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  auto pull = run_gantry(dir / "b", {"image", "pull", dest, "--ca-file", registry.ca_file()});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  EXPECT_EQ(resolve_in_store(dir / "b", dest), local.str());
  auto insecure = run_gantry(dir / "c", {"image", "pull", dest, "--insecure-registry", registry.host()});
  EXPECT_EQ(insecure.exit_code, 0) << insecure.err;
}

// Issue 10.15: the option takes one HOST per occurrence, so a REF after it
// stays the positional argument (it used to be swallowed: "REF is required").
TEST(RegistryTls, InsecureRegistryFlagBeforeTheReferenceKeepsTheReference) {
  LocalRegistry registry({.tls = true});
  ASSERT_EQ(registry.error(), "");
  ScratchDir dir;
  Digest local = make_test_image(dir / "a", "app:1", 1024, 14);
  std::string dest = registry.host() + "/team/app:1";
  auto push = run_gantry(dir / "a", {"image", "push", "--insecure-registry", registry.host(), "app:1", dest});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  auto pull = run_gantry(dir / "b", {"image", "pull", "--insecure-registry", registry.host(), dest});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  EXPECT_EQ(resolve_in_store(dir / "b", dest), local.str());
  // Repeated, both before the reference.
  auto twice = run_gantry(dir / "c", {"image", "pull", "--insecure-registry", "other.example:5000",
                                      "--insecure-registry", registry.host(), dest});
  ASSERT_EQ(twice.exit_code, 0) << twice.err;
  EXPECT_EQ(resolve_in_store(dir / "c", dest), local.str());
  // Without the flag, the unverified certificate is refused: the flag was applied.
  auto without = run_gantry(dir / "d", {"image", "pull", dest});
  EXPECT_EQ(without.exit_code, 1);
}

}  // namespace
}  // namespace gantry::testing
