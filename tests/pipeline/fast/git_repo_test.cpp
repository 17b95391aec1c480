#include "pipeline/git_repo.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/digest.h"
#include "tests/pipeline/git_fixture.h"

namespace gantry::pipeline {
namespace {

using testing::TestRepo;
using gantry::testing::ScratchDir;

std::vector<std::string> paths_of(const std::vector<TreeEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.path);
  return out;
}

// Three commits: v1 (README, src/a.c), v2 (+src/lib/b.c, run.sh 0755, a
// symlink, a tag), v3 (README changed).
struct History {
  ScratchDir scratch;
  TestRepo repo{scratch};
  std::string c1, c2, c3;
  History() {
    repo.write("README", "v1\n");
    repo.write("src/a.c", "int a;\n");
    c1 = repo.commit("first commit\n\nwith a body");
    repo.write("src/lib/b.c", "int b;\n");
    repo.write("src/lib/b.h", "extern int b;\n");
    repo.write("run.sh", "#!/bin/sh\necho hi\n", 0755);
    repo.symlink("src/a.c", "link.c");
    c2 = repo.commit("second");
    repo.git({"tag", "v2-light"});
    repo.git({"tag", "-a", "-m", "release 2", "v2"});
    repo.write("README", "v3\n");
    c3 = repo.commit("third");
  }
  GitRepo open() {
    auto r = GitRepo::open(repo.path(), scratch / "mirrors");
    EXPECT_TRUE(r) << r.error().message();
    return std::move(*r);
  }
};

TEST(GitRepo, OpensWorkTreeAndResolvesHeadByDefault) {
  History h;
  GitRepo repo = h.open();
  EXPECT_FALSE(repo.is_mirror());
  auto head = repo.resolve();
  ASSERT_TRUE(head) << head.error().message();
  EXPECT_EQ(head->id, h.c3);
  EXPECT_EQ(head->short_id, h.c3.substr(0, 12));
  EXPECT_EQ(head->summary, "third");
  EXPECT_EQ(head->author, "Ada Tester <ada@example.com>");
  EXPECT_EQ(head->time, 1'700'000'000 + 3 * 60);
  EXPECT_EQ(repo.resolve(h.c1)->summary, "first commit");
}

TEST(GitRepo, ResolvesEveryRevisionForm) {
  History h;
  GitRepo repo = h.open();
  EXPECT_EQ(repo.resolve("HEAD~1")->id, h.c2);
  EXPECT_EQ(repo.resolve("HEAD^^")->id, h.c1);
  EXPECT_EQ(repo.resolve("main")->id, h.c3);
  EXPECT_EQ(repo.resolve("refs/heads/main")->id, h.c3);
  EXPECT_EQ(repo.resolve("v2")->id, h.c2);        // annotated tag, peeled
  EXPECT_EQ(repo.resolve("v2-light")->id, h.c2);  // lightweight tag
  EXPECT_EQ(repo.resolve(h.c1.substr(0, 7))->id, h.c1);
  EXPECT_EQ(repo.resolve(h.c2)->id, h.c2);
  EXPECT_EQ(repo.resolve("main@{0}~2")->id, h.c1);
}

TEST(GitRepo, UnknownRevisionIsNotFoundNamingIt) {
  History h;
  GitRepo repo = h.open();
  for (const std::string& rev : std::vector<std::string>{"nope", "HEAD~10", "v9", "deadbeefdeadbeef"}) {
    auto r = repo.resolve(rev);
    ASSERT_FALSE(r) << rev;
    EXPECT_EQ(r.error().kind(), ErrorKind::not_found) << rev;
    EXPECT_EQ(r.error().message(), "unknown revision '" + rev + "' in " + h.repo.path());
  }
  // A tree id is an object but not a commit.
  std::string tree = h.repo.git({"rev-parse", "HEAD^{tree}"}).out.substr(0, 40);
  auto r = repo.resolve(tree);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("does not name a commit"), std::string::npos);
}

TEST(GitRepo, EmptyRepositoryHasNoHead) {
  ScratchDir scratch;
  TestRepo empty(scratch);
  auto repo = GitRepo::open(empty.path(), scratch / "m");
  ASSERT_TRUE(repo);
  auto r = repo->resolve();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::not_found);
  EXPECT_NE(r.error().message().find("has no commits"), std::string::npos) << r.error().message();
}

TEST(GitRepo, RefusesSubdirectoryAndNonRepository) {
  History h;
  for (const std::string& bad : std::vector<std::string>{h.repo.path() + "/src", h.scratch / "missing", h.scratch.path()}) {
    auto r = GitRepo::open(bad, h.scratch / "m");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message(), "not a git repository: " + bad);
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_input);
  }
}

TEST(GitRepo, ReadsFilesFromCommitsNeverFromTheWorkTree) {
  History h;
  GitRepo repo = h.open();
  // Uncommitted edits, a staged change and an untracked file.
  h.repo.write("README", "dirty\n");
  h.repo.write("src/a.c", "staged\n");
  h.repo.git({"add", "src/a.c"});
  h.repo.write("untracked.txt", "x");
  auto head = *repo.resolve();
  EXPECT_EQ(*repo.read_file(head, "README"), "v3\n");
  EXPECT_EQ(*repo.read_file(head, "src/a.c"), "int a;\n");
  EXPECT_EQ(*repo.read_file(*repo.resolve(h.c1), "README"), "v1\n");
  auto untracked = repo.read_file(head, "untracked.txt");
  ASSERT_FALSE(untracked);
  EXPECT_EQ(untracked.error().kind(), ErrorKind::not_found);
  EXPECT_EQ(untracked.error().message(), "no file 'untracked.txt' in commit " + head.short_id);
  // A file only added in a later commit is absent from an earlier one.
  EXPECT_FALSE(repo.read_file(*repo.resolve(h.c1), "run.sh"));
  auto dir = repo.read_file(head, "src");
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().kind(), ErrorKind::invalid_input);
  EXPECT_EQ(paths_of(*repo.list(head, "untracked.txt")), std::vector<std::string>{});
}

TEST(GitRepo, OpensBareRepository) {
  History h;
  std::string bare = h.scratch / "bare.git";
  auto clone = gantry::testing::run_command({"git", "clone", "-q", "--bare", h.repo.path(), bare});
  ASSERT_EQ(clone.exit_code, 0) << clone.err;
  auto repo = GitRepo::open(bare, h.scratch / "m");
  ASSERT_TRUE(repo) << repo.error().message();
  auto head = repo->resolve("main");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->id, h.c3);
  EXPECT_EQ(*repo->read_file(*head, "src/lib/b.c"), "int b;\n");
}

TEST(GitRepo, ListsDirectoriesRecursivelyWithModesIdsAndSizes) {
  History h;
  GitRepo repo = h.open();
  auto head = *repo.resolve();
  auto src = repo.list(head, "src/", /*with_sizes=*/true);
  ASSERT_TRUE(src) << src.error().message();
  EXPECT_EQ(paths_of(*src), (std::vector<std::string>{"src", "src/a.c", "src/lib", "src/lib/b.c", "src/lib/b.h"}));
  EXPECT_EQ((*src)[0].mode, kModeTree);
  EXPECT_EQ((*src)[0].oid, *repo.tree_id(head, "src"));
  EXPECT_EQ((*src)[1].mode, kModeFile);
  EXPECT_EQ((*src)[1].size, 7u);
  EXPECT_EQ((*src)[1].oid, h.repo.git({"rev-parse", "HEAD:src/a.c"}).out.substr(0, 40));
  EXPECT_EQ(*repo.read_blob((*src)[1].oid), "int a;\n");

  auto all = *repo.list(head, "");
  EXPECT_EQ(paths_of(all), (std::vector<std::string>{"README", "link.c", "run.sh", "src", "src/a.c", "src/lib",
                                                     "src/lib/b.c", "src/lib/b.h"}));
  auto run = *repo.list(head, "run.sh", true);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0].size, 18u);
  EXPECT_EQ(repo.list(head, "run.sh")->front().size, 0u);  // not asked for
  EXPECT_EQ(run[0].mode, kModeExecutable);
  auto link = *repo.list(head, "./link.c");
  ASSERT_EQ(link.size(), 1u);
  EXPECT_TRUE(link[0].is_symlink());
  EXPECT_EQ(*repo.read_blob(link[0].oid), "src/a.c");
  EXPECT_TRUE(repo.list(head, "nope/")->empty());
  EXPECT_EQ(*repo.tree_id(head), h.repo.git({"rev-parse", "HEAD^{tree}"}).out.substr(0, 40));
  EXPECT_EQ(repo.tree_id(head, "README").error().kind(), ErrorKind::invalid_input);
  EXPECT_EQ(repo.tree_id(head, "nope").error().kind(), ErrorKind::not_found);
  EXPECT_EQ(repo.read_blob("xyz").error().kind(), ErrorKind::invalid_input);
}

TEST(GitRepo, ListsGlobs) {
  History h;
  GitRepo repo = h.open();
  auto head = *repo.resolve();
  EXPECT_EQ(paths_of(*repo.list(head, "src/*.c")), std::vector<std::string>{"src/a.c"});
  EXPECT_EQ(paths_of(*repo.list(head, "src/**/*.c")), (std::vector<std::string>{"src/a.c", "src/lib/b.c"}));
  EXPECT_EQ(paths_of(*repo.list(head, "**/b.?")), (std::vector<std::string>{"src/lib/b.c", "src/lib/b.h"}));
  EXPECT_EQ(paths_of(*repo.list(head, "*.sh")), std::vector<std::string>{"run.sh"});
  // A matching directory brings everything under it.
  EXPECT_EQ(paths_of(*repo.list(head, "src/l*")), (std::vector<std::string>{"src/lib", "src/lib/b.c", "src/lib/b.h"}));
  EXPECT_EQ(paths_of(*repo.list(head, "src/lib/[b]*.h")), std::vector<std::string>{"src/lib/b.h"});
  EXPECT_TRUE(repo.list(head, "src/*.rs")->empty());
}

TEST(Glob, MatchesSegments) {
  EXPECT_TRUE(glob_match("*.c", "a.c"));
  EXPECT_FALSE(glob_match("*.c", "src/a.c"));
  EXPECT_TRUE(glob_match("**/*.c", "a.c"));
  EXPECT_TRUE(glob_match("**/*.c", "x/y/a.c"));
  EXPECT_TRUE(glob_match("src/**", "src/x/y"));
  EXPECT_TRUE(glob_match("a/**/b", "a/b"));
  EXPECT_TRUE(glob_match("a/**/b", "a/x/y/b"));
  EXPECT_FALSE(glob_match("a/**/b", "a/x/c"));
  EXPECT_TRUE(glob_match("?.txt", "x.txt"));
  EXPECT_FALSE(glob_match("?.txt", "xy.txt"));
  EXPECT_TRUE(glob_match("*", ".hidden"));
  EXPECT_EQ(glob_prefix("src/**/*.c"), "src");
  EXPECT_EQ(glob_prefix("*.c"), "");
  EXPECT_EQ(glob_prefix("a/b/c?"), "a/b");
  EXPECT_TRUE(is_glob("a[bc]"));
  EXPECT_FALSE(is_glob("a/b.c"));
}

TEST(GitRepo, CommitsBetweenAreOldestFirst) {
  History h;
  GitRepo repo = h.open();
  auto all = repo.commits_between("main", "");
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, h.c1);
  EXPECT_EQ((*all)[2].id, h.c3);
  auto since = *repo.commits_between("main", h.c1);
  ASSERT_EQ(since.size(), 2u);
  EXPECT_EQ(since[0].id, h.c2);
  EXPECT_EQ(since[1].id, h.c3);
  EXPECT_TRUE(repo.commits_between("main", h.c3)->empty());
  EXPECT_EQ(repo.head_of("main")->id, h.c3);
  EXPECT_EQ(repo.head_of("")->id, h.c3);
  auto bad = repo.head_of("nobranch");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "unknown branch 'nobranch' in " + h.repo.path());
  EXPECT_EQ(repo.commits_between("main", "nope").error().kind(), ErrorKind::not_found);
}

TEST(GitRepo, BranchCreatedLaterIsSeenWithoutReopening) {
  History h;
  GitRepo repo = h.open();
  h.repo.git({"checkout", "-q", "-b", "feature"});
  h.repo.write("f.txt", "f");
  std::string c4 = h.repo.commit("feature work");
  EXPECT_EQ(repo.head_of("feature")->id, c4);
  EXPECT_EQ(repo.head_of("main")->id, h.c3);
  auto news = *repo.commits_between("feature", h.c3);
  ASSERT_EQ(news.size(), 1u);
  EXPECT_EQ(news[0].id, c4);
}

TEST(GitRepo, MirrorsFileUrlAndFetchesNewCommits) {
  History h;
  std::string mirrors = h.scratch / "mirrors";
  std::string url = h.repo.file_url();
  auto repo = GitRepo::open(url, mirrors);
  ASSERT_TRUE(repo) << repo.error().message();
  EXPECT_TRUE(repo->is_mirror());
  EXPECT_EQ(repo->spec(), url);
  std::string mirror_dir = mirrors + "/" + Digest::of(url).hex();
  struct stat st;
  ASSERT_EQ(::stat((mirror_dir + "/HEAD").c_str(), &st), 0) << "bare mirror at " << mirror_dir;
  EXPECT_EQ(repo->resolve()->id, h.c3);
  EXPECT_EQ(repo->resolve("v2")->id, h.c2);
  EXPECT_EQ(*repo->read_file(*repo->resolve(), "README"), "v3\n");

  // A new commit upstream: visible after fetch() or a new open().
  h.repo.write("README", "v4\n");
  std::string c4 = h.repo.commit("fourth");
  EXPECT_EQ(repo->head_of("main")->id, h.c3);
  ASSERT_TRUE(repo->fetch());
  EXPECT_EQ(repo->head_of("main")->id, c4);
  h.repo.write("README", "v5\n");
  std::string c5 = h.repo.commit("fifth");
  auto again = GitRepo::open(url, mirrors);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->resolve()->id, c5);
  EXPECT_EQ(*again->read_file(*again->resolve(), "README"), "v5\n");
  auto news = *again->commits_between("main", h.c3);
  ASSERT_EQ(news.size(), 2u);
  EXPECT_EQ(news[0].id, c4);
  // The upstream's work tree edits never reach the mirror.
  h.repo.write("README", "dirty\n");
  ASSERT_TRUE(again->fetch());
  EXPECT_EQ(*again->read_file(*again->resolve(), "README"), "v5\n");
}

TEST(GitRepo, UnreachableUrlIsAnErrorAndLeavesNoMirror) {
  ScratchDir scratch;
  std::string url = "file://" + scratch.path() + "/no-such-repo";
  auto repo = GitRepo::open(url, scratch / "mirrors");
  ASSERT_FALSE(repo);
  EXPECT_EQ(repo.error().kind(), ErrorKind::io);
  EXPECT_TRUE(repo.error().message().starts_with("fetching " + url + ": ")) << repo.error().message();
  struct stat st;
  EXPECT_NE(::stat((scratch / "mirrors/" + Digest::of(url).hex()).c_str(), &st), 0);
}

TEST(GitRepo, TellsUrlsFromPaths) {
  EXPECT_TRUE(is_git_url("file:///srv/repo.git"));
  EXPECT_TRUE(is_git_url("https://example.org/x.git"));
  EXPECT_TRUE(is_git_url("git@example.org:team/x.git"));
  EXPECT_FALSE(is_git_url("/srv/repo"));
  EXPECT_FALSE(is_git_url("./repo"));
  EXPECT_FALSE(is_git_url("dir/with@at:colon/x"));
}

}  // namespace
}  // namespace gantry::pipeline

#include <thread>

namespace gantry::pipeline {
namespace {

TEST(GitRepo, OneRepoIsUsableFromSeveralThreads) {
  History h;
  GitRepo repo = h.open();
  auto head = *repo.resolve();
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto entries = repo.list(head, "src/**");
        auto readme = repo.read_file(head, "README");
        if (entries && entries->size() == 4 && readme && *readme == "v3\n" && repo.resolve("HEAD~1")) ++ok[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, (std::vector<int>{50, 50, 50, 50}));
}

TEST(GitRepo, ConcurrentOpensShareOneMirror) {
  History h;
  std::string url = h.repo.file_url();
  std::vector<std::thread> threads;
  std::vector<std::string> heads(3);
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      auto repo = GitRepo::open(url, h.scratch / "mirrors");
      if (repo) heads[t] = repo->resolve()->id;
      else heads[t] = repo.error().message();
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(heads, (std::vector<std::string>{h.c3, h.c3, h.c3}));
}

}  // namespace
}  // namespace gantry::pipeline
