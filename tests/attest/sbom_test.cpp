// SBOMs from unpacked layers: dpkg's status when the merged rootfs has one,
// else every file with its digest, merged as overlayfs merges the layers.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "attest/sbom.h"
#include "common/digest.h"
#include "tests/support/test_support.h"

namespace gantry::testing {
namespace {

TEST(Sbom, DpkgStatus_OnlyInstalledPackages) {
  auto pkgs = attest::parse_dpkg_status(
      "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\n"
      "Description: GNU C Library\n continuation: not a field\n\n"
      "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n"
      "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\nArchitecture: amd64\n");
  ASSERT_EQ(pkgs.size(), 2u);
  EXPECT_EQ(pkgs[0].name, "libc6");
  EXPECT_EQ(pkgs[0].version, "2.36-9");
  EXPECT_EQ(pkgs[1].name, "bash");
  EXPECT_EQ(pkgs[1].arch, "amd64");
}

TEST(Sbom, FileList_UpperLayersWin_WhiteoutsAndOpaqueDirsHideLowerFiles) {
  GANTRY_REQUIRE_ROOT();  // whiteouts are 0/0 char devices, opaque dirs a trusted.* xattr
  ScratchDir dir;
  write_file(dir / "l1/x", "old");
  write_file(dir / "l1/gone", "g");
  write_file(dir / "l1/d/under", "u");
  write_file(dir / "l2/x", "new");
  write_file(dir / "l2/d/kept", "k");
  ASSERT_EQ(::mknod((dir / "l2/gone").c_str(), S_IFCHR | 0, makedev(0, 0)), 0);
  ASSERT_EQ(::setxattr((dir / "l2/d").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
  Digest subject = Digest::of("manifest");
  auto st = attest::sbom_statement({"app", subject}, {dir / "l1", dir / "l2"}, 0);
  ASSERT_TRUE(st) << st.error().message();
  const auto& p = (*st)["predicate"];
  EXPECT_EQ(p.value("spdxVersion", ""), "SPDX-2.3");
  std::map<std::string, std::string> files;
  for (const auto& f : p["files"]) files[f.value("fileName", "")] = f["checksums"][0].value("checksumValue", "");
  EXPECT_EQ(files.size(), 2u) << p.dump(2);
  EXPECT_EQ(files["./x"], Digest::of("new").hex());
  EXPECT_EQ(files["./d/kept"], Digest::of("k").hex());
  EXPECT_EQ(files.count("./gone"), 0u);
  EXPECT_EQ(files.count("./d/under"), 0u);
}

TEST(Sbom, DebianRootfs_ListsItsPackagesWithPurls) {
  ScratchDir dir;
  write_file(dir / "l1/var/lib/dpkg/status",
             "Package: base-files\nStatus: install ok installed\nVersion: 12.4\nArchitecture: amd64\n");
  auto st = attest::sbom_statement({"app", Digest::of("m")}, {dir / "l1"}, 0);
  ASSERT_TRUE(st) << st.error().message();
  const auto& pkgs = (*st)["predicate"]["packages"];
  ASSERT_EQ(pkgs.size(), 1u);
  EXPECT_EQ(pkgs[0].value("name", ""), "base-files");
  EXPECT_EQ(pkgs[0]["externalRefs"][0].value("referenceLocator", ""), "pkg:deb/debian/base-files@12.4?arch=amd64");
  EXPECT_EQ((*st).value("predicateType", ""), "https://spdx.dev/Document");
}

}  // namespace
}  // namespace gantry::testing
