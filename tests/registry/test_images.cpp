#include "tests/registry/test_images.h"

#include <gtest/gtest.h>

#include <random>

#include "cache/image_store.h"
#include "cache/layer_writer.h"
#include "cache/store.h"
#include "tests/support/test_support.h"

namespace gantry::testing {

Digest make_test_image(const std::string& store_dir, const std::string& ref, std::size_t random_bytes,
                       unsigned seed) {
  ScratchDir work;
  make_busybox_rootfs(work / "rootfs");
  std::mt19937 rng(seed);
  std::string data(random_bytes, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  write_file(work / "data/app/blob.bin", data);
  write_file(work / "data/app/hello.sh", "#!/bin/sh\necho hello from the registry\n", 0755);

  auto store = cache::Store::open(store_dir);
  EXPECT_TRUE(store) << store.error().message();
  auto base = cache::write_layer_from_dir(**store, work / "rootfs");
  EXPECT_TRUE(base) << base.error().message();
  auto app = cache::write_layer_from_dir(**store, work / "data");
  EXPECT_TRUE(app) << app.error().message();
  cache::ImageConfig config;
  config.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  config.cmd = {"/bin/sh"};
  auto digest = (*store)->images().commit_image(config, {*base, *app});
  EXPECT_TRUE(digest) << digest.error().message();
  auto tagged = (*store)->images().tag_ref(ref, *digest);
  EXPECT_TRUE(tagged) << tagged.error().message();
  return *digest;
}

std::string resolve_in_store(const std::string& store_dir, const std::string& ref) {
  auto store = cache::Store::open(store_dir);
  if (!store) return "";
  auto d = (*store)->images().resolve(ref);
  return d ? d->str() : "";
}

std::string skopeo_manifest_digest(const std::string& docker_ref) {
  auto r = run_command({"skopeo", "inspect", "--tls-verify=false", "--raw", docker_ref});
  if (r.exit_code != 0) return "skopeo failed: " + r.err;
  return Digest::of(r.out).str();
}

}  // namespace gantry::testing
