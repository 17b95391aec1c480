// Attestations travel with the image through Debian's docker-registry (a
// registry without the OCI referrers API): a run's promotion pushes the
// image and its signed attestations (referrers tag schema: the index tagged
// sha256-<hex>), and an empty store that pulls the image verifies them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/registry/local_registry.h"
#include "tests/registry/test_images.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

using nlohmann::json;

TEST(AttestRegistry, PushedWithTheImage_PulledIntoAnEmptyStore_VerifyPasses) {
  GANTRY_REQUIRE_ROOT();
  LocalRegistry registry;
  ASSERT_EQ(registry.error(), "");
  ScratchDir dir;
  const std::string store = dir / "a";
  make_test_image(store, "base:1", 1024, 73);
  ASSERT_EQ(run_command({gantry_binary(), "key", "generate", dir / "keys"}).exit_code, 0);
  const std::string repo = dir / "repo";
  const std::string target = registry.host() + "/team/app:staging";
  write_file(repo + "/.gantry.yml", "images:\n  app:\n    from: base:1\n    steps:\n      - copy: VERSION /app/VERSION\n"
                                    "stages:\n  unit: {image: app, run: cat /app/VERSION}\n"
                                    "environments:\n  - test\n  - {name: staging, push: '" + target + "'}\n");
  write_file(repo + "/VERSION", "1.0\n");
  auto git = run_shell("set -e; cd " + repo + "; git init -q -b main; git add -A; "
                       "git -c user.name=t -c user.email=t@t commit -q -m v1");
  ASSERT_EQ(git.exit_code, 0) << git.err;
  write_file(dir / "runner.yml", "signing_key: keys/gantry.key\nprojects:\n  repo: {push: [" + registry.host() + "/team]}\n");

  auto run = run_gantry(store, {"--runner-config", dir / "runner.yml", "run", repo, "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err << run.out;
  std::string digest;
  const json record = json::parse(run.out);  // kept alive: the loop below refers into it
  for (const auto& i : record["images"])
    if (i.value("name", "") == "app") digest = i.value("digest", "");
  ASSERT_FALSE(digest.empty()) << run.out.substr(0, 3000);

  // The registry has no referrers API: the attestations are listed by the
  // referrers tag schema's index.
  const std::string tag = "sha256-" + digest.substr(7);
  auto index = run_command({"skopeo", "inspect", "--raw", "--tls-verify=false",
                            "docker://" + registry.host() + "/team/app:" + tag});
  ASSERT_EQ(index.exit_code, 0) << index.err;
  auto idx = json::parse(index.out);
  EXPECT_EQ(idx.value("mediaType", ""), "application/vnd.oci.image.index.v1+json");
  ASSERT_EQ(idx["manifests"].size(), 3u) << idx.dump(2);  // provenance, SBOM, the unit test result
  for (const auto& m : idx["manifests"])
    EXPECT_EQ(m.value("artifactType", ""), "application/vnd.dsse.envelope.v1+json");

  // The registry serves the image with the very digest that was tested.
  auto raw = run_shell("skopeo inspect --raw --tls-verify=false docker://" + target + " | sha256sum");
  EXPECT_EQ("sha256:" + raw.out.substr(0, 64), digest);

  const std::string empty = dir / "b";
  auto pull = run_gantry(empty, {"image", "pull", target});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  auto verify = run_gantry(empty, {"verify", target, "--key", dir / "keys/gantry.pub", "--passed", "unit", "--json"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto v = json::parse(verify.out);
  EXPECT_EQ(v.value("digest", ""), digest);
  EXPECT_EQ(v["summary"].value("provenance", 0), 1);
  EXPECT_EQ(v["summary"].value("verified", 0), 3);

  // A second push of the same image adds nothing to the tag's index.
  auto again = run_gantry(store, {"--runner-config", dir / "runner.yml", "image", "push", "app:latest", target});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto index2 = run_command({"skopeo", "inspect", "--raw", "--tls-verify=false",
                             "docker://" + registry.host() + "/team/app:" + tag});
  EXPECT_EQ(json::parse(index2.out)["manifests"].size(), 3u);
}

}  // namespace
}  // namespace gantry::testing
