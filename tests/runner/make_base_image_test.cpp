// examples/debian-c/make-base-image: the image name, the suite and extra
// packages are options; gantry's own options pass through to every command.
#include "tests/runner/build_fixture.h"

namespace gantry::testing {
namespace {

class MakeBaseImageTest : public BuildFixture {
 protected:
  static std::string script() { return source_dir() + "/examples/debian-c/make-base-image"; }
};

TEST_F(MakeBaseImageTest, NameSuiteAndPackages_AreOptions) {
  auto r = run_command({script(), "--name", "c-tools:12", "--suite", "trixie", "--packages", "make,cmake",
                        "--packages", "ccache", gantry_binary(), "--store", store_, "--print"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("mmdebstrap --quiet --variant=minbase --include=gcc,libc6-dev,make,cmake,ccache trixie "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(gantry_binary() + " --store " + store_ + " image import ROOTFS.tar c-tools:12"),
            std::string::npos)
      << r.out;
  // The defaults are what the example's pipeline uses.
  r = run_command({script(), "--print"});
  EXPECT_NE(r.out.find("--include=gcc,libc6-dev bookworm"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("image import ROOTFS.tar debian-gcc:bookworm"), std::string::npos) << r.out;
}

TEST_F(MakeBaseImageTest, AnImageAlreadyInTheStore_IsKeptUnlessReplaced) {
  // The fixture's store has busybox: asked for under that name, nothing is built.
  auto r = run_command({script(), "--name", "busybox", gantry_binary(), "--store", store_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("busybox is already in the store"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace gantry::testing
