#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <thread>

#include "cache/blob_store.h"
#include "cache/store.h"
#include "cache/store_maintenance.h"
#include "common/file_util.h"
#include "tests/cache/cache_test_util.h"

namespace gantry::cache {
namespace {

using gantry::testing::ScratchDir;

TEST(BlobStore, PutReadHasVerifyList) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  ASSERT_TRUE(store);
  auto d = store->blobs().put("hello");
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(*d, Digest::of("hello"));
  EXPECT_TRUE(store->blobs().has(*d));
  EXPECT_EQ(*store->blobs().read(*d), "hello");
  EXPECT_EQ(*store->blobs().size(*d), 5u);
  EXPECT_TRUE(store->blobs().verify(*d));
  auto all = store->blobs().list();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 1u);
  EXPECT_EQ(store->blobs().path(*d), dir / "s" + "/blobs/sha256/" + d->hex());
}

TEST(BlobStore, PutWithWrongExpectedDigestIsRejectedAndLeavesNothing) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  auto r = store->blobs().put("hello", Digest::of("other"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::corrupt);
  EXPECT_NE(r.error().message().find(Digest::of("other").str()), std::string::npos);
  EXPECT_TRUE(store->blobs().list()->empty());
  EXPECT_FALSE(store->blobs().has(Digest::of("hello")));
}

TEST(BlobStore, WriterStreamsChunksAndAbortsOnDestruction) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  {
    auto w = store->blobs().writer();
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->write("never "));
    ASSERT_TRUE(w->write("committed"));
  }
  EXPECT_TRUE(store->blobs().list()->empty());
  auto w = store->blobs().writer();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(w->write(std::string(1000, static_cast<char>('a' + i % 26))));
  std::string all;
  for (int i = 0; i < 100; ++i) all += std::string(1000, static_cast<char>('a' + i % 26));
  auto d = w->commit(Digest::of(all));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(*store->blobs().read(*d), all);
}

TEST(BlobStore, PutFileVerifiesExpectedDigest) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  gantry::testing::write_file(dir / "f", "file content");
  EXPECT_TRUE(store->blobs().put_file(dir / "f", Digest::of("file content")));
  auto bad = store->blobs().put_file(dir / "f", Digest::of("something else"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find(dir / "f"), std::string::npos);
}

TEST(BlobStore, VerifyDetectsCorruption) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  auto d = *store->blobs().put("precious");
  std::string p = store->blobs().path(d);
  ::chmod(p.c_str(), 0644);
  gantry::testing::write_file(p, "tampered");
  auto st = store->blobs().verify(d);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind(), ErrorKind::corrupt);
  EXPECT_FALSE(store->blobs().read(d));
}

TEST(BlobStore, ConcurrentWritersOfOneBlobAllSucceed) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  std::string data(1 << 20, 'z');
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      if (store->blobs().put(data, Digest::of(data))) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_TRUE(store->blobs().verify(Digest::of(data)));
  EXPECT_EQ(store->blobs().list()->size(), 1u);
}

TEST(Store, OpenCreatesLayoutAndMetaDb) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  for (const char* p : {"blobs/sha256", "layers", "runs", "tmp", "meta.db", "lock"}) {
    struct stat st {};
    EXPECT_EQ(::stat((dir / "s/" + p).c_str(), &st), 0) << p;
  }
  auto version = store->db().query_text("PRAGMA user_version");
  ASSERT_TRUE(version && *version);
  EXPECT_EQ(std::stoul(**version), schema_migrations().size);
}

TEST(Store, SweepsScratchOfDeadProcessesOnly) {
  ScratchDir dir;
  auto live = testing::open_store(dir / "s");
  // A dead process: its lock file exists but nobody holds it.
  gantry::testing::write_file(dir / "s/tmp/999999-dead.lock", "");
  gantry::testing::write_file(dir / "s/tmp/999999-dead/blob-x", "partial");
  auto other = testing::open_store(dir / "s");
  struct stat st {};
  EXPECT_NE(::stat((dir / "s/tmp/999999-dead").c_str(), &st), 0);
  EXPECT_NE(::stat((dir / "s/tmp/999999-dead.lock").c_str(), &st), 0);
  // The live store's scratch survives the other's sweep.
  EXPECT_EQ(::stat(live->tmp_dir().c_str(), &st), 0);
  std::string live_tmp = live->tmp_dir();
  live.reset();
  EXPECT_NE(::stat(live_tmp.c_str(), &st), 0) << "a closed store removes its scratch dir";
}

TEST(MetaDb, TransactionRollsBackUnlessCommitted) {
  ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  auto& db = store->db();
  {
    auto tx = db.transaction();
    ASSERT_TRUE(tx);
    ASSERT_TRUE(db.exec("INSERT INTO tags (name, tag, digest, updated) VALUES ('a', 'b', 'sha256:x', 0)"));
  }
  EXPECT_FALSE(*db.query_text("SELECT name FROM tags"));
  {
    auto tx = db.transaction();
    ASSERT_TRUE(db.exec("INSERT INTO tags (name, tag, digest, updated) VALUES ('a', 'b', 'sha256:x', 0)"));
    ASSERT_TRUE(tx->commit());
  }
  EXPECT_EQ(**db.query_text("SELECT name FROM tags"), "a");
}

TEST(MetaDb, MigrationsApplyOnceAcrossReopen) {
  ScratchDir dir;
  { auto s = testing::open_store(dir / "s"); }
  auto s = testing::open_store(dir / "s");
  auto n = s->db().query_text("SELECT count(*) FROM schema_migrations");
  EXPECT_EQ(std::stoul(**n), schema_migrations().size);
}

}  // namespace
}  // namespace gantry::cache

namespace gantry::cache {
namespace {

TEST(GcRoots, EveryRegisteredQueryRunsOnAFreshStore) {
  gantry::testing::ScratchDir dir;
  auto store = testing::open_store(dir / "s", StoreLock::exclusive);
  GcRootList roots = gc_roots();
  ASSERT_GT(roots.size, 0u);
  for (std::size_t i = 0; i < roots.size; ++i) {
    auto stmt = store->db().prepare(roots.items[i].sql);
    ASSERT_TRUE(stmt) << roots.items[i].name << ": " << stmt.error().message();
    EXPECT_TRUE(stmt->step()) << roots.items[i].name;
  }
  auto report = collect_garbage(*store);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->blobs_removed, 0u);
}

TEST(GcRoots, GcRefusesWithoutTheExclusiveLock) {
  gantry::testing::ScratchDir dir;
  auto store = testing::open_store(dir / "s");
  EXPECT_FALSE(collect_garbage(*store));
}

}  // namespace
}  // namespace gantry::cache
