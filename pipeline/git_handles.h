// Private to pipeline/: RAII owners for libgit2 objects, the one-time library
// init, and libgit2 errors turned into gantry Errors.
#pragma once

#include <git2.h>

#include <memory>
#include <string>

#include "common/error.h"

namespace gantry::pipeline::git {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p) Free(p);
  }
};
template <typename T, void (*Free)(T*)>
using Handle = std::unique_ptr<T, Deleter<T, Free>>;

using Repository = Handle<git_repository, git_repository_free>;
using Object = Handle<git_object, git_object_free>;
using CommitObj = Handle<git_commit, git_commit_free>;
using Tree = Handle<git_tree, git_tree_free>;
using TreeEntryObj = Handle<git_tree_entry, git_tree_entry_free>;
using Blob = Handle<git_blob, git_blob_free>;
using Odb = Handle<git_odb, git_odb_free>;
using Remote = Handle<git_remote, git_remote_free>;
using Revwalk = Handle<git_revwalk, git_revwalk_free>;
using Reference = Handle<git_reference, git_reference_free>;

struct Buf {
  git_buf buf = GIT_BUF_INIT;
  Buf() = default;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() { git_buf_dispose(&buf); }
  std::string str() const { return buf.ptr ? std::string(buf.ptr, buf.size) : std::string(); }
};

// git_libgit2_init() once per process (never shut down: other threads may
// still hold objects at exit).
void ensure_init();

// The last libgit2 error's message ("unknown error" when none).
std::string last_message();
// Error of `kind` with "what: <libgit2 message>"; rc == GIT_ENOTFOUND makes it not_found.
Error error(int rc, const std::string& what, ErrorKind kind = ErrorKind::io);

std::string oid_hex(const git_oid* oid);

}  // namespace gantry::pipeline::git
