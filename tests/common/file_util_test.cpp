#include "common/file_util.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <fcntl.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/unique_fd.h"
#include <limits.h>

#include "tests/support/deep_tree.h"

#include "tests/support/test_support.h"

namespace gantry {

TEST(FileUtil, ListDirGivesSortedNamesWithoutDotEntries) {
  testing::ScratchDir dir;
  testing::write_file(dir / "b", "");
  testing::write_file(dir / "a", "");
  testing::write_file(dir / "sub/c", "");
  auto names = list_dir(dir.path());
  ASSERT_TRUE(names) << names.error().message();
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "sub"}));
  auto missing = list_dir(dir / "absent");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errno_value(), ENOENT);
  EXPECT_NE(missing.error().message().find("absent"), std::string::npos);
}


// Issue 10.9: a credential is never readable by others, not even while it is
// written. A fanotify permission watch on the temp dir stops the writer at the
// open() of its temp file (after the inode exists, before any byte is written)
// and inspects the mode of that very file through the event's fd.
namespace {

struct OpenSeen {
  bool seen = false;
  unsigned mode = 0;
  std::string error;
};

}  // namespace

TEST(FileUtil, AtomicWriteCreatesItsTempFileWithTheRequestedModeBeforeAnyByte) {
  if (::geteuid() != 0) GTEST_SKIP() << "fanotify permission events need CAP_SYS_ADMIN; CI runs as root";
  testing::ScratchDir dir;
  ASSERT_EQ(::mkdir((dir / "tmp").c_str(), 0700), 0);
  int fan = ::fanotify_init(FAN_CLOEXEC | FAN_CLASS_CONTENT, O_RDONLY | O_CLOEXEC);
  if (fan < 0 && (errno == EINVAL || errno == ENOSYS))
    GTEST_SKIP() << "kernel without fanotify permission events: " << std::strerror(errno);
  ASSERT_GE(fan, 0) << std::strerror(errno);
  UniqueFd fan_fd(fan);
  ASSERT_EQ(::fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_PERM | FAN_EVENT_ON_CHILD, AT_FDCWD, (dir / "tmp").c_str()), 0)
      << std::strerror(errno);

  ::mode_t old_umask = ::umask(0);  // the writer must not rely on the umask for 0600
  const std::string secret = "user:credential-bytes-0600";
  Status written;
  std::atomic<bool> finished{false};
  std::thread writer([&] {
    written = write_file_atomic(dir / "auth.json", secret, dir / "tmp", 0600);
    finished = true;
  });
  OpenSeen seen;
  // Answer every permission event (the writer waits on each) until it is done;
  // the first one is the open of its temp file.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!finished) {
    if (std::chrono::steady_clock::now() > deadline) {
      seen.error = "the writer did not finish within 20 s";
      break;
    }
    pollfd p{fan, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    alignas(fanotify_event_metadata) char buf[4096];
    ssize_t n = ::read(fan, buf, sizeof buf);
    if (n <= 0) continue;
    auto* m = reinterpret_cast<fanotify_event_metadata*>(buf);
    for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
      if (m->fd < 0) continue;
      struct stat st {};
      if (::fstat(m->fd, &st) == 0 && !seen.seen && S_ISREG(st.st_mode)) {
        seen.seen = true;
        seen.mode = st.st_mode & 07777;
        if (st.st_size != 0) seen.error = "temp file had " + std::to_string(st.st_size) + " bytes at open";
      }
      fanotify_response r{m->fd, FAN_ALLOW};
      (void)::write(fan, &r, sizeof r);
      ::close(m->fd);
    }
  }
  writer.join();
  ::umask(old_umask);
  ASSERT_TRUE(seen.error.empty()) << seen.error;
  ASSERT_TRUE(written) << written.error().message();
  ASSERT_TRUE(seen.seen);
  EXPECT_EQ(seen.mode, 0600u) << std::oct << seen.mode;
  struct stat st {};
  ASSERT_EQ(::stat((dir / "auth.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(read_file(dir / "auth.json").value_or(""), secret);
}

TEST(FileUtil, AtomicWriteModeIsExactWhateverTheUmask) {
  testing::ScratchDir dir;
  ::mode_t old_umask = ::umask(077);
  auto a = write_file_atomic(dir / "public", "x", dir.path(), 0644);
  ::umask(0);
  auto b = write_file_atomic(dir / "private", "y", dir.path(), 0600);
  ::umask(old_umask);
  ASSERT_TRUE(a && b);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "public").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  ASSERT_EQ(::stat((dir / "private").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

}  // namespace gantry

namespace gantry {

// Issue 10.11: a tree deeper than PATH_MAX (a container can make one in a
// stage) is removed whole; the symlink at its bottom is unlinked, never
// followed; a read-only directory in it does not stop the removal.
TEST(FileUtil, RemoveTreeRemovesATreeDeeperThanPathMax) {
  testing::ScratchDir dir;
  testing::write_file(dir / "outside/canary", "keep me\n");
  ASSERT_EQ(::mkdir((dir / "tree").c_str(), 0755), 0);
  std::size_t deepest = testing::make_deep_tree(dir / "tree", 40, dir / "outside");
  ASSERT_GT(deepest, static_cast<std::size_t>(PATH_MAX));
  // A path-based walk cannot even name the bottom of it.
  std::string deep_path = dir / "tree";
  for (int i = 0; i < 40; ++i) deep_path += "/" + std::string(200, 'd');
  struct stat st {};
  ASSERT_NE(::lstat((deep_path + "/bottom").c_str(), &st), 0);
  EXPECT_EQ(errno, ENAMETOOLONG);

  auto removed = remove_tree(dir / "tree");
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_NE(::lstat((dir / "tree").c_str(), &st), 0);
  EXPECT_EQ(testing::read_file_or_die(dir / "outside/canary"), "keep me\n");
}

TEST(FileUtil, RemoveTreeDoesNotFollowASymlinkGivenAsTheTree) {
  testing::ScratchDir dir;
  testing::write_file(dir / "target/file", "x");
  ASSERT_EQ(::symlink((dir / "target").c_str(), (dir / "link").c_str()), 0);
  ASSERT_TRUE(remove_tree(dir / "link"));
  struct stat st {};
  EXPECT_NE(::lstat((dir / "link").c_str(), &st), 0);
  EXPECT_EQ(testing::read_file_or_die(dir / "target/file"), "x");
}

}  // namespace gantry
