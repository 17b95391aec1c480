// gantry without root (issue 20, docs/rootless.md). Root makes unprivileged
// host users, one with subordinate ids in /etc/subuid and /etc/subgid and one
// without, and runs the real gantry binary as them (setpriv, no supplementary
// groups, HOME of their own, so the default store $HOME/.local/share/gantry):
// busybox import, isolation, examples/hello-service to production, owners
// from the tar headers, digests equal to root's for the same input, fsck and
// gc of the user's store, and nothing left behind.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/rootless/rootless_fixture.h"

namespace gantry::testing {
namespace {

TEST_P(RootlessTest, ImportsBusyboxIntoTheDefaultStoreWithRootsDigest) {
  std::string digest = user_busybox();
  ASSERT_FALSE(digest.empty());
  EXPECT_EQ(digest, root_busybox()) << "the same busybox tar gives another image as a user";
  struct stat st {};
  ASSERT_EQ(::stat(user_->store().c_str(), &st), 0) << "the default store is $HOME/.local/share/gantry";
  EXPECT_EQ(st.st_uid, user_->uid());
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  // The store is the user's: fsck (deep: every unpacked layer against its
  // blob, owners included) and gc work on it.
  auto fsck = user_->gantry({"fsck", "--deep"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
  auto gc = user_->gantry({"gc"});
  EXPECT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  auto ls = user_->gantry({"image", "ls"});
  EXPECT_NE(ls.out.find("busybox"), std::string::npos) << ls.out;
}

TEST_P(RootlessTest, ContainerIsIsolatedAndHasNoHostCapability) {
  ASSERT_FALSE(user_busybox().empty());
  write_file(user_->home() + "/host-canary", "secret");
  ASSERT_EQ(::chown((user_->home() + "/host-canary").c_str(), user_->uid(), 0), 0);
  auto r = user_->gantry(
      {"exec", "--hostname", "rl-box", "busybox", "--", "sh", "-c",
       "echo id=$(id -u); echo self=$$; echo init=$(tr '\\0' ' ' < /proc/1/cmdline); echo host=$(hostname); "
       "echo links=$(tail -n +3 /proc/net/dev | wc -l); echo lo=$(grep -c ' lo:' /proc/net/dev); "
       "if [ -e '" + user_->home() + "/host-canary' ]; then echo canary=visible; else echo canary=hidden; fi; "
       "if mount -t tmpfs none /mnt 2>/dev/null; then echo mount=allowed; else echo mount=refused; fi; "
       "echo userns=$(readlink /proc/self/ns/user); echo map=$(head -1 /proc/self/uid_map | tr -s ' ')"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("id=0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("self=2\n"), std::string::npos) << "the command is PID 1's first child: " << r.out;
  EXPECT_NE(r.out.find("init=gantry-init"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("host=rl-box\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("links=1\nlo=1\n"), std::string::npos) << "network none: loopback only: " << r.out;
  EXPECT_NE(r.out.find("canary=hidden\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mount=refused\n"), std::string::npos) << r.out;
  // Root in the container is the user on the host, in a user namespace that
  // is not the host's: no capability there.
  EXPECT_NE(r.out.find("map= 0 " + std::to_string(user_->uid()) + " 1\n"), std::string::npos) << r.out;
  char host_ns[64] = {};
  ASSERT_GT(::readlink("/proc/self/ns/user", host_ns, sizeof host_ns - 1), 0);
  EXPECT_EQ(r.out.find(std::string("userns=") + host_ns), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("userns=user:["), std::string::npos) << r.out;
}

TEST_P(RootlessTest, HelloServiceToProductionWithRootsDigest) {
  ASSERT_FALSE(user_busybox().empty());
  std::string commit = make_hello_repo(scratch_ / "repo");
  give_copy(scratch_ / "repo", user_->home() + "/hello", *user_);

  auto run = user_->gantry({"run", "hello"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("smoke test passed"), std::string::npos) << run.out;
  // The smoke stage asks for memory and pids limits: without a delegated
  // cgroup the run says so, once, and goes on.
  std::size_t warnings = count_of(run.err, "NOT enforced");
  EXPECT_LE(warnings, 1u) << run.err;
  auto promote = user_->gantry({"promote", "app", "--to", "production"});
  ASSERT_EQ(promote.exit_code, 0) << promote.out << promote.err;
  auto envs = user_->gantry({"env", "ls", "app"});
  ASSERT_EQ(envs.exit_code, 0) << envs.err;
  std::string prod_line;
  std::istringstream lines(envs.out);
  for (std::string line; std::getline(lines, line);)
    if (line.find("production") != std::string::npos) prod_line = line;
  std::string user_digest = first_digest(prod_line);
  ASSERT_FALSE(user_digest.empty()) << envs.out;

  // Root builds the same commit: the same image digest.
  (void)root_busybox();
  ScratchDir root_store;
  auto root_run = run_command({source_dir() + "/ci/make-busybox-image", "--store", root_store / "s"},
                              {"GANTRY=" + gantry_binary()});
  ASSERT_EQ(root_run.exit_code, 0) << root_run.err;
  auto root_build = run_gantry(root_store / "s", {"build", "--json", scratch_ / "repo"});
  ASSERT_EQ(root_build.exit_code, 0) << root_build.out << root_build.err;
  EXPECT_NE(root_build.out.find(user_digest), std::string::npos)
      << "root's build of " << commit << " is not the user's " << user_digest << ": " << root_build.out;
}

// A layer's owners are its tar headers': as a user the image digest, the
// owners the container sees (with subordinate ids) and the digest of a build
// that chowns are root's.
TEST_P(RootlessTest, OwnersComeFromTheTarHeadersNotTheDisk) {
  ScratchDir root_store;
  std::string input = scratch_ / "input";
  ASSERT_EQ(::mkdir(input.c_str(), 0755), 0);
  make_busybox_rootfs(scratch_ / "rootfs");
  auto tarred = run_shell("set -e; cd '" + scratch_ / "rootfs" + "'; mkdir -p srv/data; echo x > srv/data/f; "
                          "chown -R 1000:1000 srv/data; chmod 600 srv/data/f; "
                          "tar --numeric-owner -cf '" + input + "/rootfs.tar' .; chmod 644 '" + input + "/rootfs.tar'");
  ASSERT_EQ(tarred.exit_code, 0) << tarred.err;
  auto root_import = run_gantry(root_store.path(), {"image", "import", "--epoch", "0", input + "/rootfs.tar", "owned"});
  ASSERT_EQ(root_import.exit_code, 0) << root_import.err;
  auto user_import = user_->gantry({"image", "import", "--epoch", "0", input + "/rootfs.tar", "owned"});
  ASSERT_EQ(user_import.exit_code, 0) << user_import.err;
  EXPECT_EQ(first_digest(user_import.out), first_digest(root_import.out)) << user_import.out << root_import.out;

  auto seen = user_->gantry({"exec", "owned", "--", "stat", "-c", "%u:%g %a", "/srv/data/f"});
  ASSERT_EQ(seen.exit_code, 0) << seen.err;
  auto fsck = user_->gantry({"fsck", "--deep"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;

  // A build whose step chowns to another id.
  std::string repo = scratch_ / "chown-repo";
  write_file(repo + "/.gantry.yml",
             "images:\n  app:\n    from: owned\n    steps:\n"
             "      - run: mkdir -p /home/app && echo hi > /home/app/x && chown -R 1001:1001 /home/app && chmod 640 "
             "/home/app/x\n");
  auto committed = run_shell("set -e; cd '" + repo + "'; git init -q -b main; git add -A; "
                             "GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z "
                             "git -c user.name=t -c user.email=t@example.org commit -q -m chown");
  ASSERT_EQ(committed.exit_code, 0) << committed.err;
  give_copy(repo, user_->home() + "/chown-repo", *user_);
  auto root_build = run_gantry(root_store.path(), {"build", "--json", repo});
  ASSERT_EQ(root_build.exit_code, 0) << root_build.out << root_build.err;
  auto user_build = user_->gantry({"build", "--json", "chown-repo"});

  if (GetParam() == Ids::subordinate) {
    EXPECT_EQ(trim(seen.out), "1000:1000 600") << "the container sees the tar's owners";
    ASSERT_EQ(user_build.exit_code, 0) << user_build.out << user_build.err;
    std::string digest = first_digest(user_build.out);
    ASSERT_FALSE(digest.empty()) << user_build.out;
    EXPECT_NE(root_build.out.find(digest), std::string::npos) << "user " << user_build.out << "\nroot " << root_build.out;
  } else {
    // Only the user's own id is mapped (documented in docs/rootless.md): the
    // image is still the tar's (root's digest above), but its unpacked tree
    // holds the unmapped owners as root, said when it is unpacked (by the
    // import, which publishes its tree); chown to another id fails in the
    // container.
    EXPECT_EQ(trim(seen.out), "0:0 600");
    EXPECT_NE(user_import.err.find("stored as root"), std::string::npos) << user_import.err;
    EXPECT_NE(user_build.exit_code, 0) << user_build.out;
    EXPECT_NE((user_build.out + user_build.err).find("Invalid argument"), std::string::npos)
        << user_build.out << user_build.err;
  }
}

// Issue 10.1 without root: the artifact copy runs as root of gantry's user
// namespace, which is the user on the host, so a symlink the stage makes to
// the user's own files (an ssh key, a token) must not be followed either.
TEST_P(RootlessTest, ArtifactThroughASymlinkToTheUsersHomeNeverCopiesIt) {
  ASSERT_FALSE(user_busybox().empty());
  std::string secret = "rootless-canary-" + std::to_string(::getpid());
  write_file(user_->home() + "/canary", secret);
  ASSERT_EQ(::chown((user_->home() + "/canary").c_str(), user_->uid(), 0), 0);
  ASSERT_EQ(::chmod((user_->home() + "/canary").c_str(), 0600), 0);
  std::string repo = scratch_ / "leak-repo";
  write_file(repo + "/.gantry.yml", "images:\n  app: {from: busybox}\nstages:\n  leak:\n    image: app\n"
                                    "    run: ln -s " + user_->home() + " /out\n    artifacts: [/out/canary]\n");
  auto committed = run_shell("set -e; cd '" + repo + "'; git init -q -b main; git add -A; "
                             "git -c user.name=t -c user.email=t@example.org commit -q -m leak");
  ASSERT_EQ(committed.exit_code, 0) << committed.err;
  give_copy(repo, user_->home() + "/leak-repo", *user_);
  auto run = user_->gantry({"run", "leak-repo"});
  EXPECT_NE(run.exit_code, 0) << run.out;
  EXPECT_NE((run.out + run.err).find("goes through a symlink"), std::string::npos) << run.out << run.err;
  auto grep = run_command({"grep", "-rl", secret, user_->store()});
  EXPECT_EQ(grep.out, "") << "the user's file reached the store";
}

TEST_P(RootlessTest, LimitsWithoutADelegatedCgroupWarnOnceOrAreRefused) {
  ASSERT_FALSE(user_busybox().empty());
  auto warned = user_->gantry({"exec", "--memory", "64M", "--pids", "32", "busybox", "--", "true"});
  ASSERT_EQ(warned.exit_code, 0) << warned.err;
  if (warned.err.find("NOT enforced") == std::string::npos)
    GTEST_SKIP() << "this user has a delegated cgroup here: the limits apply (" << warned.err << ")";
  EXPECT_EQ(count_of(warned.err, "NOT enforced"), 1u) << warned.err;
  EXPECT_NE(warned.err.find("not delegated"), std::string::npos) << warned.err;

  auto refused = user_->gantry({"--require-limits", "exec", "--memory", "64M", "busybox", "--", "true"});
  EXPECT_EQ(refused.exit_code, 125) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("--require-limits"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("docs/rootless.md"), std::string::npos) << refused.err;
  // Without limits nothing is said.
  auto plain = user_->gantry({"--require-limits", "exec", "busybox", "--", "true"});
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.err, "");
}

TEST_P(RootlessTest, BadMappingChoiceIsNamed) {
  auto r = user_->gantry({"image", "ls"}, {"GANTRY_ROOTLESS_MAPPING=bogus"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("GANTRY_ROOTLESS_MAPPING='bogus'"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Rootless, RootlessTest, ::testing::Values(Ids::subordinate, Ids::single), ids_name);

}  // namespace
}  // namespace gantry::testing
