// What goes into the store is what it says it is (issue 10 items 4, 12, 13):
// every layer's uncompressed content is checked against its diff_id on
// import, whatever the store already holds under that diff_id; a compression
// that is not the media type's is refused; expansion bombs (gzip, sparse
// entries) stop at the configured limit; wrong JSON types name the file and
// field. Each refusal leaves the store exactly as it was.
#include <dirent.h>
#include <sys/stat.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "cache/image_store.h"
#include "cache/layer_unpacker.h"
#include "cache/store.h"
#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

using gantry::testing::run_gantry;
using gantry::testing::run_shell;
using gantry::testing::ScratchDir;
using nlohmann::json;
using testing::TarEntry;

constexpr const char* kGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr const char* kTar = "application/vnd.oci.image.layer.v1.tar";

std::vector<std::string> tmp_entries(const std::string& store) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir((store + "/tmp").c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') out.push_back(e->d_name);
    ::closedir(d);
  }
  return out;
}

class IngestVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = scratch_ / "store";
    // busybox, imported and unpacked: the tree a forged diff_id would pick up.
    gantry::testing::make_busybox_rootfs(scratch_ / "rootfs");
    auto r = run_gantry(store_, {"image", "import", scratch_ / "rootfs", "busybox:1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto store = testing::open_store(store_);
    ASSERT_TRUE(store);
    auto digest = store->images().resolve("busybox:1");
    ASSERT_TRUE(digest) << digest.error().message();
    auto image = store->images().load(*digest);
    ASSERT_TRUE(image) << image.error().message();
    ASSERT_EQ(image->layers.size(), 1u);
    busybox_diff_id_ = image->layers[0].diff_id.str();
    auto dir = ensure_unpacked(*store, image->layers[0]);
    ASSERT_TRUE(dir) << dir.error().message();
    busybox_dir_ = *dir;
    store.reset();
    busybox_tree_ = testing::snapshot_tree(busybox_dir_, true);
    before_ = testing::snapshot_store(store_);
  }

  // gantry [--runner-config cfg] image import source bad:1 fails naming `needle`,
  // the store (blobs, layers, tags, scratch) is as it was, busybox untouched.
  void expect_refused(const std::string& source, const std::string& needle, const std::string& config = "") {
    std::vector<std::string> args;
    if (!config.empty()) args = {"--runner-config", config};
    for (const char* a : {"image", "import"}) args.push_back(a);
    args.push_back(source);
    args.push_back("bad:1");
    auto r = run_gantry(store_, args);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
    EXPECT_EQ(testing::snapshot_store(store_), before_);
    EXPECT_EQ(testing::snapshot_tree(busybox_dir_, true), busybox_tree_);
    EXPECT_EQ(tmp_entries(store_), std::vector<std::string>{}) << "scratch left behind";
  }

  std::string small_limit_config() {
    gantry::testing::write_file(scratch_ / "runner.yml", "max_layer_size: 1M\n");
    return scratch_ / "runner.yml";
  }

  ScratchDir scratch_;
  std::string store_;
  std::string busybox_diff_id_;
  std::string busybox_dir_;
  std::map<std::string, std::string> busybox_tree_;
  std::string before_;
};

// 10.4: a valid gzip of a tar holding /EVIL whose config claims busybox's
// diff_id. Before the fix the import skipped the check because
// layers/<busybox diff_id> existed, and every later run got busybox's files.
TEST_F(IngestVerify, ForgedDiffIdIsRefusedAndTheExistingLayerIsUntouched) {
  testing::write_tar(scratch_ / "evil.tar.gz", {{"EVIL", 'f', "owned\n", 0755}}, true);
  testing::write_oci_layout(scratch_ / "forged", scratch_ / "evil.tar.gz", kGzip, busybox_diff_id_);
  expect_refused(scratch_ / "forged", "does not match its diff_id");
  struct stat st {};
  EXPECT_NE(::lstat((busybox_dir_ + "/EVIL").c_str(), &st), 0);

  // The same through an OCI archive (a tar of the layout).
  ASSERT_EQ(run_shell("cd " + scratch_ / "forged" + " && tar -cf " + scratch_ / "forged.tar" + " oci-layout index.json blobs")
                .exit_code,
            0);
  expect_refused(scratch_ / "forged.tar", "does not match its diff_id");
}

// 10.4: the compression must be the media type's; no sha256("") placeholder.
TEST_F(IngestVerify, CompressionThatIsNotTheMediaTypesIsRefused) {
  testing::write_tar(scratch_ / "layer.tar", {{"hello", 'f', "hi\n"}});
  std::string true_diff_id = Digest::of(gantry::testing::read_file_or_die(scratch_ / "layer.tar")).str();
  for (const std::string& tool : {std::string("zstd"), std::string("xz"), std::string("bzip2")}) {
    SCOPED_TRACE(tool);
    std::string blob = scratch_ / ("layer.tar." + tool);
    ASSERT_EQ(run_shell(tool + " -q -c " + scratch_ / "layer.tar" + " > " + blob).exit_code, 0);
    std::string layout = scratch_ / ("layout-" + tool);
    testing::write_oci_layout(layout, blob, kGzip, true_diff_id);
    expect_refused(layout, std::string("media type says gzip but its bytes are ") + (tool == "bzip2" ? "bzip2" : tool));
  }
  // A gzip'd layer declared as a plain tar is refused the same way.
  testing::write_tar(scratch_ / "layer.tar.gz", {{"hello", 'f', "hi\n"}}, true);
  testing::write_oci_layout(scratch_ / "layout-plain", scratch_ / "layer.tar.gz", kTar, true_diff_id);
  expect_refused(scratch_ / "layout-plain", "media type says uncompressed but its bytes are gzip");
}

// 10.12: 64 MiB of zeros gzip to ~64 KB; with max_layer_size 1M the import
// stops at the limit, quickly, and leaves no blob, layer or scratch.
TEST_F(IngestVerify, GzipBombOverTheLimitIsRefusedQuickly) {
  ASSERT_EQ(run_shell("cd " + scratch_.path() + " && head -c 67108864 /dev/zero > zeros && tar -cf bomb.tar zeros && "
                      "gzip -9 -k bomb.tar && rm zeros")
                .exit_code,
            0);
  struct stat st {};
  ASSERT_EQ(::stat((scratch_ / "bomb.tar.gz").c_str(), &st), 0);
  ASSERT_LT(st.st_size, 1 << 20);
  std::string diff_id = Digest::of(gantry::testing::read_file_or_die(scratch_ / "bomb.tar")).str();
  testing::write_oci_layout(scratch_ / "bomb-layout", scratch_ / "bomb.tar.gz", kGzip, diff_id);
  std::string config = small_limit_config();
  auto start = std::chrono::steady_clock::now();
  expect_refused(scratch_ / "bomb-layout", "over the limit of 1 MiB for one layer", config);
  expect_refused(scratch_ / "bomb.tar.gz", "over the limit of 1 MiB for one layer", config);  // as a rootfs tarball
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  // Small declared sizes, a huge stream: a tiny tar followed by 64 MiB of
  // zero blocks, gzip'd. The stream itself is bounded.
  ASSERT_EQ(run_shell("cd " + scratch_.path() + " && echo hi > small && tar -cf padded.tar small && "
                      "head -c 67108864 /dev/zero >> padded.tar && gzip -9 -k padded.tar")
                .exit_code,
            0);
  std::string padded_diff_id = Digest::of(gantry::testing::read_file_or_die(scratch_ / "padded.tar")).str();
  testing::write_oci_layout(scratch_ / "padded-layout", scratch_ / "padded.tar.gz", kGzip, padded_diff_id);
  expect_refused(scratch_ / "padded-layout", "the uncompressed stream is more than 1 MiB, over the limit of 1 MiB", config);

  // Without the small limit (default 8 GiB) the same layout imports.
  auto ok = run_gantry(store_, {"image", "import", scratch_ / "bomb-layout", "big:1"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

// 10.12: a 10 KB tar declaring a 64 GiB (sparse) file is refused at its
// header under the default limit (8 GiB), within a second or two.
TEST_F(IngestVerify, HugeSparseEntryIsRefusedFast) {
  ASSERT_EQ(run_shell("cd " + scratch_.path() + " && truncate -s 64G huge && tar --sparse -cf sparse.tar huge && rm huge")
                .exit_code,
            0);
  struct stat st {};
  ASSERT_EQ(::stat((scratch_ / "sparse.tar").c_str(), &st), 0);
  ASSERT_LT(st.st_size, 64 * 1024);
  std::string diff_id = Digest::of(gantry::testing::read_file_or_die(scratch_ / "sparse.tar")).str();
  testing::write_oci_layout(scratch_ / "sparse-layout", scratch_ / "sparse.tar", kTar, diff_id);
  for (const std::string& source : {scratch_ / "sparse.tar", scratch_ / "sparse-layout"}) {
    SCOPED_TRACE(source);
    auto start = std::chrono::steady_clock::now();
    expect_refused(source, "its entries declare 64 GiB, over the limit of 8 GiB for one layer");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  }
}

// 10.12: a sparse file under the limit stays sparse when unpacked.
TEST_F(IngestVerify, SparseFileUnderTheLimitIsUnpackedSparse) {
  ASSERT_EQ(run_shell("cd " + scratch_.path() + " && truncate -s 512M hole && printf end >> hole && "
                      "tar --sparse --format=pax -cf sparse.tar hole && rm hole")
                .exit_code,
            0);
  std::string diff_id = Digest::of(gantry::testing::read_file_or_die(scratch_ / "sparse.tar")).str();
  testing::write_oci_layout(scratch_ / "layout", scratch_ / "sparse.tar", kTar, diff_id);
  auto r = run_gantry(store_, {"image", "import", scratch_ / "layout", "sparse:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat((store_ + "/layers/" + diff_id.substr(7) + "/hole").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, (512 << 20) + 3);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the hole was written out as zeros";
}

// 10.13: wrong JSON types name the file and the field; exit 1, not "internal error".
TEST_F(IngestVerify, WrongJsonTypesInTheIndexNameTheFileAndField) {
  testing::write_tar(scratch_ / "layer.tar", {{"hello", 'f', "hi\n"}});
  std::string diff_id = Digest::of(gantry::testing::read_file_or_die(scratch_ / "layer.tar")).str();
  std::string layout = scratch_ / "layout";
  testing::write_oci_layout(layout, scratch_ / "layer.tar", kTar, diff_id);
  json index = json::parse(gantry::testing::read_file_or_die(layout + "/index.json"));

  json manifests_object = index;
  manifests_object["manifests"] = json::object();
  gantry::testing::write_file(layout + "/index.json", manifests_object.dump());
  expect_refused(layout, layout + "/index.json: manifests must be an array, not an object");

  json digest_number = index;
  digest_number["manifests"][0]["digest"] = 12345;
  gantry::testing::write_file(layout + "/index.json", digest_number.dump());
  expect_refused(layout, layout + "/index.json: manifests[0].digest must be a string, not a number");

  json annotations_array = index;
  annotations_array["manifests"][0]["annotations"] = json::array({1});
  gantry::testing::write_file(layout + "/index.json", annotations_array.dump());
  expect_refused(layout, layout + "/index.json: manifests[0].annotations must be an object, not an array");

  // A manifest whose layer size is a string.
  gantry::testing::write_file(layout + "/index.json", index.dump());
  std::string manifest_digest = index["manifests"][0]["digest"];
  json manifest = json::parse(gantry::testing::read_file_or_die(layout + "/blobs/sha256/" + manifest_digest.substr(7)));
  manifest["layers"][0]["size"] = "12";
  std::string bytes = manifest.dump();
  Digest d = Digest::of(bytes);
  gantry::testing::write_file(layout + "/blobs/sha256/" + d.hex(), bytes);
  index["manifests"][0]["digest"] = d.str();
  index["manifests"][0]["size"] = bytes.size();
  gantry::testing::write_file(layout + "/index.json", index.dump());
  expect_refused(layout, "manifest layers[0].size must be a whole number, not a string");
}

}  // namespace
}  // namespace gantry::cache
