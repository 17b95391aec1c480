#include "pipeline/git_handles.h"

#include <mutex>

namespace gantry::pipeline::git {

void ensure_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    // gantry only reads objects and refs and never runs anything a
    // repository's config names (hooks, fsmonitor), so a repository owned by
    // another user (root's runner on a user's clone) is safe to read.
    git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
  });
}

std::string last_message() {
  const git_error* e = git_error_last();
  return e && e->message ? std::string(e->message) : std::string("unknown error");
}

Error error(int rc, const std::string& what, ErrorKind kind) {
  if (rc == GIT_ENOTFOUND) kind = ErrorKind::not_found;
  return Error(kind, what + ": " + last_message());
}

std::string oid_hex(const git_oid* oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, oid);
  return std::string(buf);
}

}  // namespace gantry::pipeline::git
