// Every bad input gets a clear error naming what and where, a non-zero exit,
// and leaves the store exactly as it was.
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

using gantry::testing::run_gantry;
using gantry::testing::run_shell;
using gantry::testing::ScratchDir;
using testing::TarEntry;

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = scratch_ / "store";
    // A store with something in it already.
    testing::write_tar(scratch_ / "good.tar", {{"etc", 'd', "", 0755}, {"etc/hello", 'f', "hi\n"}});
    auto r = run_gantry(store_, {"image", "import", scratch_ / "good.tar", "good:1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    before_ = testing::snapshot_store(store_);
  }

  // Imports the tar; expects failure with `needle` in stderr and no change.
  void expect_rejected(const std::vector<TarEntry>& entries, const std::string& needle, bool gzip = false) {
    std::string tar = scratch_ / "bad.tar";
    testing::write_tar(tar, entries, gzip);
    expect_import_rejected(tar, needle);
  }

  void expect_import_rejected(const std::string& source, const std::string& needle) {
    auto r = run_gantry(store_, {"image", "import", source, "bad:1"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(testing::snapshot_store(store_), before_);
    struct stat st {};
    EXPECT_NE(::stat((scratch_ / "escaped").c_str(), &st), 0) << "something was written outside the store";
  }

  ScratchDir scratch_;
  std::string store_;
  std::string before_;
};

TEST_F(BadInput, TarEntryWithDotDotIsRejected) {
  expect_rejected({{"etc", 'd'}, {"etc/../../escaped", 'f', "x"}}, "'..'");
}

TEST_F(BadInput, TarEntryWithAbsolutePathIsRejected) {
  expect_rejected({{"/escaped", 'f', "x"}}, "absolute path");
}

TEST_F(BadInput, WriteThroughSymlinkPointingOutsideIsRejected) {
  expect_rejected({{"link", 'l', scratch_.path()}, {"link/escaped", 'f', "x"}}, "symlink 'link'");
}

TEST_F(BadInput, HardlinkToOutsideIsRejected) {
  expect_rejected({{"h", 'h', "../../../../etc/passwd"}}, "'..'");
  expect_rejected({{"h", 'h', "/etc/passwd"}}, "absolute path");
  expect_rejected({{"h", 'h', "not/in/layer"}}, "hardlink target");
}

TEST_F(BadInput, CorruptGzipIsRejected) {
  std::string tar = scratch_ / "c.tar.gz";
  testing::write_tar(tar, {{"a", 'f', std::string(100000, 'a')}}, true);
  ASSERT_EQ(run_shell("printf 'XXXXXXXXXXXXXXXX' | dd of=" + tar + " bs=1 seek=40 conv=notrunc 2>/dev/null").exit_code, 0);
  expect_import_rejected(tar, "gzip");
}

TEST_F(BadInput, TruncatedGzipIsRejected) {
  std::string tar = scratch_ / "t.tar.gz";
  testing::write_tar(tar, {{"a", 'f', std::string(100000, 'a') + std::string(5000, 'b')}}, true);
  ASSERT_EQ(run_shell("truncate -s -40 " + tar).exit_code, 0);
  expect_import_rejected(tar, "truncated gzip");
}

TEST_F(BadInput, BlobNotMatchingItsDigestIsRejected) {
  auto r = run_gantry(store_, {"image", "export", "good:1", scratch_ / "layout"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto inspect = run_gantry(store_, {"image", "inspect", "good:1"});
  std::string hex = nlohmann::json::parse(inspect.out)["config_digest"].get<std::string>().substr(7);
  std::string blob = scratch_ / "layout/blobs/sha256/" + hex;
  ASSERT_EQ(run_shell("chmod u+w " + blob + " && printf ' ' >> " + blob).exit_code, 0);
  expect_import_rejected(scratch_ / "layout", "does not match its digest");
}

TEST_F(BadInput, ManifestNamingMissingBlobIsRejected) {
  ASSERT_EQ(run_gantry(store_, {"image", "export", "good:1", scratch_ / "layout"}).exit_code, 0);
  auto inspect = run_gantry(store_, {"image", "inspect", "good:1"});
  std::string hex = nlohmann::json::parse(inspect.out)["layers"][0]["digest"].get<std::string>().substr(7);
  ASSERT_EQ(::unlink((scratch_ / "layout/blobs/sha256/" + hex).c_str()), 0);
  expect_import_rejected(scratch_ / "layout", "missing");
}

TEST_F(BadInput, MalformedDigestIsAUsageLevelError) {
  auto r = run_gantry(store_, {"image", "inspect", "sha256:xyz"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("malformed digest 'sha256:xyz'"), std::string::npos) << r.err;
  r = run_gantry(store_, {"image", "tag", "good:1", "bad@sha256:1234"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("malformed"), std::string::npos) << r.err;
  EXPECT_EQ(testing::snapshot_store(store_), before_);
}

TEST_F(BadInput, UnknownTagIsNamed) {
  auto r = run_gantry(store_, {"image", "inspect", "good:2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown image 'good:2'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("good:1"), std::string::npos) << "suggests the tags that exist: " << r.err;
  r = run_gantry(store_, {"image", "rm", "nothere"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nothere:latest"), std::string::npos) << r.err;
  EXPECT_EQ(testing::snapshot_store(store_), before_);
}

TEST_F(BadInput, NotATarIsRejected) {
  gantry::testing::write_file(scratch_ / "junk", "this is not a tar archive at all, just text\n");
  expect_import_rejected(scratch_ / "junk", "junk");
}

}  // namespace
}  // namespace gantry::cache
