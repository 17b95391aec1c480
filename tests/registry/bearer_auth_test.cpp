// The bearer-token flow against docker-registry with `auth: token`: the
// registry answers 401 with `WWW-Authenticate: Bearer realm=…,service=…`,
// gantry fetches a token for the repository scope from the realm (with
// Basic credentials) and retries.
#include <gtest/gtest.h>

#include <memory>

#include "tests/registry/local_registry.h"
#include "tests/registry/test_images.h"
#include "tests/registry/token_server.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

TEST(RegistryBearer, TokenFlowPushesAndPullsAndRefusesBadCredentials) {
  ScratchDir dir;
  TokenServer tokens(dir.path(), "ci", "token-pw");
  ASSERT_EQ(tokens.error(), "");
  LocalRegistry registry({.token_realm = tokens.realm(),
                          .token_service = TokenServer::kService,
                          .token_issuer = TokenServer::kIssuer,
                          .token_cert = tokens.cert_file()});
  ASSERT_EQ(registry.error(), "");
  Digest local = make_test_image(dir / "a", "app:1", 4096, 51);
  std::string dest = registry.host() + "/team/app:1";

  auto anonymous = run_command({gantry_binary(), "--store", dir / "a", "image", "push", "app:1", dest, "--authfile",
                                dir / "none.json"});
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_NE(anonymous.err.find(dest), std::string::npos) << anonymous.err;
  EXPECT_NE(anonymous.err.find("authentication required"), std::string::npos) << anonymous.err;

  auto bad = run_shell("echo wrong | " + gantry_binary() + " login " + registry.host() +
                       " -u ci --password-stdin --authfile " + dir / "auth.json");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("credentials refused"), std::string::npos) << bad.err;
  EXPECT_GE(tokens.refused(), 1);

  auto login = run_shell("echo token-pw | " + gantry_binary() + " login " + registry.host() +
                         " -u ci --password-stdin --authfile " + dir / "auth.json");
  ASSERT_EQ(login.exit_code, 0) << login.err;
  auto push = run_command({gantry_binary(), "--store", dir / "a", "image", "push", "app:1", dest, "--authfile",
                           dir / "auth.json"});
  ASSERT_EQ(push.exit_code, 0) << push.err << registry.log();
  auto mount = run_command({gantry_binary(), "--store", dir / "a", "image", "push", "app:1",
                            registry.host() + "/other/app:1", "--authfile", dir / "auth.json", "--json"});
  ASSERT_EQ(mount.exit_code, 0) << mount.err;
  EXPECT_NE(mount.out.find("\"blobs_mounted\":3"), std::string::npos) << mount.out;
  auto pull = run_command({gantry_binary(), "--store", dir / "b", "image", "pull", dest, "--authfile", dir / "auth.json"});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  EXPECT_EQ(resolve_in_store(dir / "b", dest), local.str());
  EXPECT_GE(tokens.tokens_issued(), 3);
}

}  // namespace
}  // namespace gantry::testing
