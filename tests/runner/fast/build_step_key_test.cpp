// Step keys and the step cache table, without containers.
#include <gtest/gtest.h>

#include "cache/metadata.h"
#include "cache/step_key.h"
#include "cache/store.h"
#include "tests/support/test_support.h"

namespace gantry::cache {
namespace {

StepRecord copy_record() {
  StepRecord r;
  r.parent = parent_of_image(Digest::of("base manifest"));
  r.kind = "copy";
  r.args = {{"src", {"src"}}, {"dest", "/app/"}, {"chmod", nullptr}, {"chown", nullptr}};
  r.env = {{"PATH", "/bin"}};
  r.workdir = "/app";
  r.sources = {{"src/a.c", 0100644, std::string(40, 'a')}, {"src/b.c", 0100755, std::string(40, 'b')}};
  return r;
}

TEST(StepKey, SameRecord_SameKey) { EXPECT_EQ(step_key(copy_record()), step_key(copy_record())); }

TEST(StepKey, CopyStepKey_ChangesWhenSourceBlobChanges) {
  auto r = copy_record();
  r.sources[1].oid = std::string(40, 'c');
  EXPECT_NE(step_key(r), step_key(copy_record()));
}

TEST(StepKey, CopyStepKey_ChangesWhenModeChanges) {
  auto r = copy_record();
  r.sources[0].mode = 0100755;
  EXPECT_NE(step_key(r), step_key(copy_record()));
}

TEST(StepKey, FieldsThatConcatenateAlike_GiveDifferentKeys) {
  auto a = copy_record();
  auto b = copy_record();
  a.env = {{"AB", "C"}};
  b.env = {{"A", "BC"}};
  EXPECT_NE(step_key(a), step_key(b));
  a = copy_record();
  b = copy_record();
  a.workdir = "/a";
  a.user = "b";
  b.workdir = "/ab";
  b.user = "";
  EXPECT_NE(step_key(a), step_key(b));
}

TEST(StepKey, EveryField_ChangesTheKey) {
  const Digest base = step_key(copy_record());
  auto changed = [&](auto mutate) {
    auto r = copy_record();
    mutate(r);
    return step_key(r) != base;
  };
  EXPECT_TRUE(changed([](StepRecord& r) { r.parent = parent_of_step(Digest::of("x")); }));
  EXPECT_TRUE(changed([](StepRecord& r) { r.kind = "run"; }));
  EXPECT_TRUE(changed([](StepRecord& r) { r.args["dest"] = "/srv/"; }));
  EXPECT_TRUE(changed([](StepRecord& r) { r.env["X"] = "1"; }));
  EXPECT_TRUE(changed([](StepRecord& r) { r.workdir = "/"; }));
  EXPECT_TRUE(changed([](StepRecord& r) { r.user = "1000"; }));
  EXPECT_TRUE(changed([](StepRecord& r) { r.network = "host"; }));
  EXPECT_TRUE(changed([](StepRecord& r) { r.format = kStepKeyFormat + 1; }));
  EXPECT_TRUE(changed([](StepRecord& r) { r.epoch = 1700000000; }));  // the time in the layer (issue 11.1)
  EXPECT_TRUE(changed([](StepRecord& r) { r.sources.pop_back(); }));
}

TEST(StepKey, RecordText_RoundTrips) {
  auto r = copy_record();
  auto back = StepRecord::from_text(r.text());
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(step_key(*back), step_key(r));
}

TEST(StepKey, NonUtf8Path_IsHashedByItsBytes) {
  auto a = copy_record();
  auto b = copy_record();
  a.sources[0].path = "src/\xff.c";
  b.sources[0].path = "src/\xfe.c";
  EXPECT_NE(step_key(a), step_key(b));
  EXPECT_FALSE(a.text().empty());
}

TEST(StepKey, DiffRecords_SaysWhichFieldsAndEntriesChanged) {
  auto before = copy_record();
  auto after = copy_record();
  after.env["PATH"] = "/usr/bin";
  after.sources[1].oid = std::string(40, 'd');
  after.sources.push_back({"src/new.c", 0100644, std::string(40, 'e')});
  auto changes = diff_records(before, after);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].field, "env");
  EXPECT_NE(changes[0].detail.find("PATH"), std::string::npos);
  EXPECT_EQ(changes[1].field, "sources");
  EXPECT_NE(changes[1].detail.find("changed: src/b.c"), std::string::npos) << changes[1].detail;
  EXPECT_NE(changes[1].detail.find("added: src/new.c"), std::string::npos) << changes[1].detail;
  EXPECT_TRUE(diff_records(before, before).empty());
}

TEST(StepCache, PutLookupAndPrevious) {
  gantry::testing::ScratchDir dir;
  auto store = Store::open(dir / "store");
  ASSERT_TRUE(store) << store.error().message();
  Metadata& cache = (*store)->metadata();

  auto r1 = copy_record();
  auto r2 = copy_record();
  r2.sources[0].oid = std::string(40, 'f');
  const Digest k1 = step_key(r1), k2 = step_key(r2);
  StepCacheEntry e1{.key = k1, .record = r1.text(), .image = "app", .step_index = 0, .created = 100};
  e1.layer = LayerDescriptor{.digest = Digest::of("blob"), .diff_id = Digest::of("tar"), .size = 42};
  e1.config_change.workdir = "/app";
  ASSERT_TRUE(cache.put_step(e1));
  ASSERT_TRUE(cache.put_step(e1));  // a second writer of the same key is harmless

  auto found = cache.find_step(k1);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->record, r1.text());
  ASSERT_TRUE((*found)->layer);
  EXPECT_EQ((*found)->layer->digest, Digest::of("blob"));
  EXPECT_EQ((*found)->layer->size, 42u);
  EXPECT_EQ((*found)->config_change.workdir, std::optional<std::string>("/app"));
  auto missing = cache.find_step(k2);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);

  ASSERT_TRUE(cache.record_image_build({.image = "app", .manifest_digest = Digest::of("m1"), .step_keys = {k1}, .created = 1}));
  auto prev = cache.previous_step("app", 0, k2);
  ASSERT_TRUE(prev && *prev);
  EXPECT_EQ((*prev)->key, k1);
  auto none = cache.previous_step("other", 0, k2);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

}  // namespace
}  // namespace gantry::cache
