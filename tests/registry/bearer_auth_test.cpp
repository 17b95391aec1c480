// The bearer-token flow against docker-registry with `auth: token`: the
// registry answers 401 with `WWW-Authenticate: Bearer realm=…,service=…`,
// gantry fetches a token for the repository scope from the realm (with
// Basic credentials) and retries. The credentials go to the realm only over
// verified TLS or to the registry's own host:port (docs/security.md, "Token
// realms"): a plain-HTTP realm on another port gets none.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "registry/credentials.h"
#include "tests/registry/local_registry.h"
#include "tests/registry/test_images.h"
#include "tests/registry/token_server.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

// A docker-registry that takes its tokens from `tokens`.
LocalRegistryOptions token_auth(const TokenServer& tokens) {
  return {.token_realm = tokens.realm(),
          .token_service = TokenServer::kService,
          .token_issuer = TokenServer::kIssuer,
          .token_cert = tokens.cert_file()};
}

TEST(RegistryBearer, TokenFlowPushesAndPullsAndRefusesBadCredentials) {
  ScratchDir dir;
  TokenServer tokens(dir.path(), "ci", "token-pw", /*tls=*/true);
  ASSERT_EQ(tokens.error(), "");
  LocalRegistry registry(token_auth(tokens));
  ASSERT_EQ(registry.error(), "");
  Digest local = make_test_image(dir / "a", "app:1", 4096, 51);
  std::string dest = registry.host() + "/team/app:1";

  const std::string ca = tokens.cert_file();
  auto anonymous = run_command({gantry_binary(), "--store", dir / "a", "image", "push", "app:1", dest, "--authfile",
                                dir / "none.json", "--ca-file", ca});
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_NE(anonymous.err.find(dest), std::string::npos) << anonymous.err;
  EXPECT_NE(anonymous.err.find("authentication required"), std::string::npos) << anonymous.err;

  auto bad = run_shell("echo wrong | " + gantry_binary() + " login " + registry.host() +
                       " -u ci --password-stdin --authfile " + dir / "auth.json" + " --ca-file " + ca);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("credentials refused"), std::string::npos) << bad.err;
  EXPECT_GE(tokens.refused(), 1);

  auto login = run_shell("echo token-pw | " + gantry_binary() + " login " + registry.host() +
                         " -u ci --password-stdin --authfile " + dir / "auth.json" + " --ca-file " + ca);
  ASSERT_EQ(login.exit_code, 0) << login.err;
  auto push = run_command({gantry_binary(), "--store", dir / "a", "image", "push", "app:1", dest, "--authfile",
                           dir / "auth.json", "--ca-file", ca});
  ASSERT_EQ(push.exit_code, 0) << push.err << registry.log();
  auto mount = run_command({gantry_binary(), "--store", dir / "a", "image", "push", "app:1",
                            registry.host() + "/other/app:1", "--authfile", dir / "auth.json", "--json", "--ca-file", ca});
  ASSERT_EQ(mount.exit_code, 0) << mount.err;
  EXPECT_NE(mount.out.find("\"blobs_mounted\":3"), std::string::npos) << mount.out;
  auto pull = run_command({gantry_binary(), "--store", dir / "b", "image", "pull", dest, "--authfile", dir / "auth.json",
                           "--ca-file", ca});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  EXPECT_EQ(resolve_in_store(dir / "b", dest), local.str());
  EXPECT_GE(tokens.tokens_issued(), 3);
  EXPECT_GE(tokens.requests_with_credentials(), 3);
}

// The attack of issue 10.10: a registry names a plain-HTTP realm on another
// host:port (here another port of 127.0.0.1, where anyone could listen); the
// user's credentials for the registry must not reach it.
TEST(RegistryBearer, PlainHttpRealmOnAnotherHostGetsNoCredentials) {
  ScratchDir dir;
  TokenServer tokens(dir.path(), "ci", "token-pw", /*tls=*/false);
  ASSERT_EQ(tokens.error(), "");
  LocalRegistry registry(token_auth(tokens));
  ASSERT_EQ(registry.error(), "");
  make_test_image(dir / "a", "app:1", 4096, 52);
  std::string dest = registry.host() + "/team/app:1";
  // Credentials for the registry, as `gantry login` would have stored them.
  write_file(dir / "auth.json", R"({"auths":{")" + registry.host() + R"(":{"auth":")" +
                                    registry::base64_encode("ci:token-pw") + R"("}}})");

  auto login = run_shell("echo token-pw | " + gantry_binary() + " login " + registry.host() +
                         " -u ci --password-stdin --authfile " + dir / "login.json");
  EXPECT_EQ(login.exit_code, 1);
  auto push = run_command({gantry_binary(), "--store", dir / "a", "image", "push", "app:1", dest, "--authfile",
                           dir / "auth.json"});
  EXPECT_EQ(push.exit_code, 1);
  EXPECT_NE(push.err.find("were not sent to the token realm " + tokens.realm()), std::string::npos) << push.err;
  auto pull = run_command({gantry_binary(), "--store", dir / "b", "image", "pull", dest, "--authfile",
                           dir / "auth.json"});
  EXPECT_EQ(pull.exit_code, 1);

  // The token server was asked (so the test saw the flow), never with credentials.
  EXPECT_GE(tokens.requests(), 3);
  EXPECT_EQ(tokens.requests_with_credentials(), 0);
  EXPECT_EQ(tokens.tokens_issued(), 0);
  EXPECT_FALSE(std::filesystem::exists(dir / "login.json"));
}

}  // namespace
}  // namespace gantry::testing
