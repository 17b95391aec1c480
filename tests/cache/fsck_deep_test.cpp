// fsck --deep: an unpacked layer changed after unpacking, and a git mirror
// whose refs or objects are broken, are faults naming what is wrong.
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

using gantry::testing::run_command;
using gantry::testing::run_gantry;
using gantry::testing::run_shell;
using gantry::testing::ScratchDir;
using nlohmann::json;

json fsck(const std::string& store, bool deep, int expect_exit) {
  std::vector<std::string> args{"fsck", "--json"};
  if (deep) args.push_back("--deep");
  auto r = run_gantry(store, args);
  EXPECT_EQ(r.exit_code, expect_exit) << r.out << r.err;
  return json::parse(r.out, nullptr, false);
}

bool any_fault_contains(const json& report, const std::string& text) {
  for (const auto& f : report["faults"])
    if (f.get<std::string>().find(text) != std::string::npos) return true;
  return false;
}

TEST(FsckDeep, AFileChangedInAnUnpackedLayerIsAFaultNamingTheLayer) {
  GANTRY_REQUIRE_ROOT();  // gantry exec unpacks the layer (it needs namespaces)
  ScratchDir dir;
  auto made = run_command({gantry::testing::source_dir() + "/ci/make-busybox-image", "--store", dir / "s", "busybox"},
                          {"GANTRY=" + gantry::testing::gantry_binary()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto ran = run_gantry(dir / "s", {"exec", "busybox", "true"});
  ASSERT_EQ(ran.exit_code, 0) << ran.err;
  auto inspect = json::parse(run_gantry(dir / "s", {"image", "inspect", "busybox"}).out);
  std::string diff_id = inspect["layers"][0]["diff_id"];
  std::string layer = dir / ("s/layers/" + diff_id.substr(7));

  json clean = fsck(dir / "s", true, 0);
  EXPECT_EQ(clean["layers_checked"], 1) << clean.dump();

  // Tamper: what the digest runs is no longer what it names.
  ASSERT_EQ(run_shell("echo evil >> " + layer + "/etc/passwd").exit_code, 0);
  json shallow = fsck(dir / "s", false, 0);
  EXPECT_EQ(shallow["layers_checked"], 0) << "plain fsck leaves unpacked trees to --deep";
  json deep = fsck(dir / "s", true, 1);
  EXPECT_TRUE(any_fault_contains(deep, "layer " + diff_id)) << deep.dump();
  EXPECT_TRUE(any_fault_contains(deep, "/etc/passwd")) << deep.dump();

  // A file added, and a mode changed, are found too.
  ASSERT_EQ(run_shell("sed -i '$d' " + layer + "/etc/passwd").exit_code, 0);
  EXPECT_EQ(fsck(dir / "s", true, 0)["faults"].size(), 0u) << "restored content is clean again";
  ASSERT_EQ(run_shell("touch " + layer + "/planted && chmod 4755 " + layer + "/bin/busybox").exit_code, 0);
  deep = fsck(dir / "s", true, 1);
  EXPECT_TRUE(any_fault_contains(deep, "/planted") || any_fault_contains(deep, "/bin/busybox")) << deep.dump();
}

struct MirrorStore {
  ScratchDir dir;
  std::string url = dir / "origin.git";
  std::string mirror;

  MirrorStore() {
    std::string work = dir / "work";
    EXPECT_EQ(run_shell("set -e; git init -q " + work + "; cd " + work +
                        "; echo hi > f; git add f; git -c user.name=t -c user.email=t@t commit -qm one;"
                        " git clone -q --bare " + work + " " + url)
                  .exit_code,
              0);
    // The mirror layout gantry's `run URL` makes: <store>/git/<sha256 of URL>/.
    mirror = dir / ("s/git/" + Digest::of(url).hex());
    EXPECT_EQ(run_shell("set -e; mkdir -p " + dir / "s/git" + "; chmod 0700 " + dir / "s" + " " + dir / "s/git" + "; git clone -q --mirror " + url + " " + mirror).exit_code, 0);
  }
};

TEST(FsckDeep, GitMirrorsAreChecked) {
  MirrorStore m;
  json clean = fsck(m.dir / "s", true, 0);
  EXPECT_EQ(clean["git_mirrors_checked"], 1) << clean.dump();
  EXPECT_GT(clean["git_objects_checked"].get<int>(), 2) << "a commit, a tree and a blob at least";

  // A ref pointing at an object the mirror does not hold.
  ASSERT_EQ(run_shell("cd " + m.mirror + " && git update-ref refs/heads/broken HEAD && echo " +
                      std::string(40, 'e') + " > refs/heads/broken")
                .exit_code,
            0);
  json broken = fsck(m.dir / "s", false, 1);
  EXPECT_TRUE(any_fault_contains(broken, "refs/heads/broken")) << broken.dump();
}

TEST(FsckDeep, ACorruptGitObjectIsFoundByDeepOnly) {
  MirrorStore m;
  // Overwrite one loose object with a valid zlib stream of other content.
  auto blob = run_shell("cd " + m.mirror + " && git rev-parse HEAD:f");
  ASSERT_EQ(blob.exit_code, 0);
  std::string hex = blob.out.substr(0, 40);
  std::string path = m.mirror + "/objects/" + hex.substr(0, 2) + "/" + hex.substr(2);
  auto packed = run_shell("test -f " + path);
  if (packed.exit_code != 0) {
    // --mirror clones pack their objects: unpack them to loose ones first.
    ASSERT_EQ(run_shell("set -e; cd " + m.mirror + "; mkdir -p /tmp/$$; mv objects/pack/*.pack /tmp/$$/p.pack;"
                        " rm -f objects/pack/*; git unpack-objects -q < /tmp/$$/p.pack; rm -rf /tmp/$$")
                  .exit_code,
              0);
  }
  ASSERT_EQ(run_shell("chmod u+w " + path + " && printf 'blob 5\\0evil\\n' | python3 -c "
                      "'import sys,zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read()))' > " + path)
                .exit_code,
            0);
  json shallow = fsck(m.dir / "s", false, 0);
  EXPECT_EQ(shallow["faults"].size(), 0u) << shallow.dump();
  json deep = fsck(m.dir / "s", true, 1);
  EXPECT_TRUE(any_fault_contains(deep, hex)) << deep.dump();
}

TEST(FsckDeep, AMirrorWhoseOriginDoesNotMatchItsNameIsAFault) {
  MirrorStore m;
  ASSERT_EQ(run_shell("git -C " + m.mirror + " remote set-url origin /somewhere/else.git").exit_code, 0);
  json report = fsck(m.dir / "s", false, 1);
  EXPECT_TRUE(any_fault_contains(report, "does not hash to its name")) << report.dump();
}

}  // namespace
}  // namespace gantry::cache
