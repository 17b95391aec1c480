#include "pipeline/git_mirror.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cstdio>

#include "common/digest.h"
#include "common/file_util.h"
#include "common/unique_fd.h"
#include "pipeline/git_handles.h"

namespace gantry::pipeline {

namespace {

constexpr const char* kMirrorRefspec = "+refs/*:refs/*";

Result<UniqueFd> lock_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return fail_sys("open", path);
  int rc;
  do rc = ::flock(fd.get(), LOCK_EX);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) return fail_sys("flock", path);
  return fd;
}

// Fetches every ref of "origin" (pruning deleted ones) and points HEAD at the
// remote's default branch.
Status fetch_all(git_repository* repo, const std::string& url) {
  git_remote* raw = nullptr;
  int rc = git_remote_lookup(&raw, repo, "origin");
  if (rc != 0) return fail(git::error(rc, "fetching " + url + ": no remote 'origin' in mirror", ErrorKind::corrupt));
  git::Remote remote(raw);

  git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
  rc = git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr);
  if (rc != 0) return fail(git::error(rc, "fetching " + url, ErrorKind::io));

  std::string default_branch;
  {
    git::Buf buf;
    if (git_remote_default_branch(&buf.buf, remote.get()) == 0) default_branch = buf.str();
  }

  git_fetch_options options = GIT_FETCH_OPTIONS_INIT;
  options.prune = GIT_FETCH_PRUNE;
  options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL;
  rc = git_remote_fetch(remote.get(), nullptr, &options, "gantry: fetch");
  if (rc != 0) return fail(git::error(rc, "fetching " + url, ErrorKind::io));
  git_remote_disconnect(remote.get());

  if (!default_branch.empty()) {
    rc = git_repository_set_head(repo, default_branch.c_str());
    if (rc != 0) return fail(git::error(rc, "fetching " + url + ": setting HEAD to " + default_branch));
  }
  return {};
}

Result<git::Repository> open_bare(const std::string& path) {
  git_repository* raw = nullptr;
  int rc = git_repository_open_bare(&raw, path.c_str());
  if (rc != 0) return fail(git::error(rc, "opening mirror " + path, ErrorKind::corrupt));
  return git::Repository(raw);
}

Status create_mirror(const std::string& url, const std::string& final_path) {
  std::string tmp = final_path + ".tmp-" + unique_suffix();
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      if (!path.empty()) (void)remove_tree(path);
    }
  } cleanup{tmp};

  git_repository* raw = nullptr;
  int rc = git_repository_init(&raw, tmp.c_str(), /*is_bare=*/1);
  if (rc != 0) return fail(git::error(rc, "creating mirror " + tmp));
  git::Repository repo(raw);

  git_remote* remote_raw = nullptr;
  rc = git_remote_create_with_fetchspec(&remote_raw, repo.get(), "origin", url.c_str(), kMirrorRefspec);
  if (rc != 0) return fail(git::error(rc, "mirroring " + url, ErrorKind::invalid_input));
  git::Remote remote(remote_raw);
  TRY(fetch_all(repo.get(), url));
  repo.reset();

  if (::rename(tmp.c_str(), final_path.c_str()) != 0) return fail_sys("rename", tmp);
  cleanup.path.clear();
  return {};
}

}  // namespace

Result<std::string> sync_mirror(const std::string& url, const std::string& mirror_root) {
  git::ensure_init();
  TRY_CTX(make_dirs(mirror_root), "mirroring " + url);
  std::string path = mirror_root + "/" + Digest::of(url).hex();
  UniqueFd lock = TRY_CTX(lock_file(path + ".lock"), "mirroring " + url);

  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    git::Repository repo = TRY(open_bare(path));
    TRY(fetch_all(repo.get(), url));
  } else if (errno == ENOENT) {
    TRY(create_mirror(url, path));
  } else {
    return fail_sys("stat", path);
  }
  return path;
}

}  // namespace gantry::pipeline
