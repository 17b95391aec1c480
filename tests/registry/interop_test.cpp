// Interop with a real second client (skopeo, umoci) and running a pulled image.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/registry/local_registry.h"
#include "tests/registry/test_images.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

class Interop : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(registry_.error(), ""); }
  std::string ref(const std::string& repo_tag) const { return registry_.host() + "/" + repo_tag; }
  // An OCI layout made by umoci (not by gantry): busybox plus /app/hello.sh.
  void make_umoci_layout(const std::string& layout) {
    auto r = run_shell("set -e; umoci init --layout " + layout + "; umoci new --image " + layout + ":t; umoci unpack --image " +
                       layout + ":t " + dir_ / "bundle" + " >/dev/null");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    make_busybox_rootfs(dir_ / "bundle/rootfs");
    write_file(dir_ / "bundle/rootfs/app/hello.sh", "#!/bin/sh\necho hello from umoci\n", 0755);
    r = run_shell("set -e; umoci repack --image " + layout + ":t " + dir_ / "bundle" + " >/dev/null; umoci config --image " +
                  layout + ":t --config.cmd /bin/sh >/dev/null");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  LocalRegistry registry_;
  ScratchDir dir_;
};

TEST_F(Interop, SkopeoCopiesAnImageGantryPushed) {
  Digest local = make_test_image(dir_ / "a", "app:1", 64 * 1024, 21);
  auto push = run_gantry(dir_ / "a", {"image", "push", "app:1", ref("team/app:1")});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  auto copy = run_command({"skopeo", "copy", "--src-tls-verify=false", "docker://" + ref("team/app:1"),
                           "oci:" + dir_ / "copy" + ":app"});
  ASSERT_EQ(copy.exit_code, 0) << copy.err;
  auto index = nlohmann::json::parse(read_file_or_die(dir_ / "copy/index.json"));
  EXPECT_EQ(index["manifests"][0]["digest"], local.str());  // same bytes, same digest
}

TEST_F(Interop, GantryPullsWhatSkopeoPushedInOciAndDockerFormats) {
  make_umoci_layout(dir_ / "layout");
  auto oci = run_command({"skopeo", "copy", "--dest-tls-verify=false", "oci:" + dir_ / "layout" + ":t",
                          "docker://" + ref("sk/oci:1")});
  ASSERT_EQ(oci.exit_code, 0) << oci.err;
  auto docker = run_command({"skopeo", "copy", "--dest-tls-verify=false", "--format", "v2s2",
                             "oci:" + dir_ / "layout" + ":t", "docker://" + ref("sk/docker:1")});
  ASSERT_EQ(docker.exit_code, 0) << docker.err;

  for (std::string r : {ref("sk/oci:1"), ref("sk/docker:1")}) {
    SCOPED_TRACE(r);
    auto pull = run_gantry(dir_ / "b", {"image", "pull", r, "--json"});
    ASSERT_EQ(pull.exit_code, 0) << pull.err;
    auto j = nlohmann::json::parse(pull.out);
    EXPECT_EQ(j["digest"], skopeo_manifest_digest("docker://" + r));
    auto inspect = run_gantry(dir_ / "b", {"image", "inspect", r});
    EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
  }
  // The Docker-format image goes back out byte for byte.
  auto again = run_gantry(dir_ / "b", {"image", "push", ref("sk/docker:1"), ref("sk/docker-copy:1"), "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(skopeo_manifest_digest("docker://" + ref("sk/docker-copy:1")),
            skopeo_manifest_digest("docker://" + ref("sk/docker:1")));
}

TEST_F(Interop, PulledImageRunsInAnEmptyStore) {
  GANTRY_REQUIRE_ROOT();
  make_test_image(dir_ / "a", "app:1", 16 * 1024, 22);
  ASSERT_EQ(run_gantry(dir_ / "a", {"image", "push", "app:1", ref("team/app:1")}).exit_code, 0);
  auto pull = run_gantry(dir_ / "b", {"image", "pull", ref("team/app:1")});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  auto exec = run_gantry(dir_ / "b", {"exec", ref("team/app:1"), "--", "/app/hello.sh"});
  EXPECT_EQ(exec.exit_code, 0) << exec.err;
  EXPECT_NE(exec.out.find("hello from the registry"), std::string::npos) << exec.out << exec.err;
}

}  // namespace
}  // namespace gantry::testing
