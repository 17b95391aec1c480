// Reading a git repository with libgit2: commits, trees and blobs straight
// from the object database, never from a work tree, so uncommitted edits can
// not leak into a build.
//
// A repository is named by a spec: a local path (a work tree root or a bare
// repository; a subdirectory of a work tree is refused) or a URL libgit2 can
// clone (file://, https://, ssh://, git@host:path). A URL is mirrored as a
// bare repository into `mirror_root/<sha256-hex of the URL>` (all refs, as
// `git clone --mirror`) on first use and fetched again on every open.
//
// One GitRepo may be used from several threads: calls are serialised inside.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace gantry::pipeline {

struct Commit {
  std::string id;          // 40 lowercase hex
  std::string short_id;    // first 12 hex of id
  std::int64_t time = 0;   // committer time, seconds since the epoch
  std::string summary;     // first paragraph of the message, one line
  std::string author;      // "Name <email>"
};

// Git file modes, as stored in tree entries.
inline constexpr std::uint32_t kModeFile = 0100644;
inline constexpr std::uint32_t kModeExecutable = 0100755;
inline constexpr std::uint32_t kModeSymlink = 0120000;
inline constexpr std::uint32_t kModeTree = 0040000;
inline constexpr std::uint32_t kModeSubmodule = 0160000;  // a gitlink: no content here

struct TreeEntry {
  std::string path;         // from the tree root, '/'-separated, no leading '/'
  std::uint32_t mode = 0;   // one of the kMode* values
  std::string oid;          // blob id (tree id for directories, commit id for submodules), 40 hex
  std::uint64_t size = 0;   // blob size in bytes when asked for (list(..., true)); else 0
  bool is_dir() const { return mode == kModeTree; }
  bool is_symlink() const { return mode == kModeSymlink; }  // the blob holds the target
};

class GitRepo {
 public:
  // Opens a local repository or mirrors a remote one (see above). Errors:
  // "not a git repository: PATH" (invalid_input), "fetching URL: ..." (io).
  static Result<GitRepo> open(const std::string& spec, const std::string& mirror_root);

  GitRepo(GitRepo&&) noexcept;
  GitRepo& operator=(GitRepo&&) noexcept;
  GitRepo(const GitRepo&) = delete;
  GitRepo& operator=(const GitRepo&) = delete;
  ~GitRepo();

  const std::string& spec() const;  // as given to open()
  const std::string& path() const;  // the directory libgit2 opened (the mirror for URLs)
  bool is_mirror() const;           // opened from a URL
  // Where the repository is, valid from any working directory: the URL for a
  // mirror; else the absolute work tree root (a bare repository's directory).
  const std::string& location() const;
  // The URL it came from: the spec for a mirror; else the `origin` remote's
  // URL, or the first remote's; "" when it has none.
  std::string remote_url() const;

  // Updates a mirror from its URL (open() already did once); no-op for a local repo.
  Status fetch();

  // Anything `git rev-parse` takes that names a commit: HEAD (the default),
  // branches, tags (annotated ones are peeled), HEAD~1, main^2, short ids.
  // Unknown → not_found "unknown revision 'REV' in SPEC".
  Result<Commit> resolve(const std::string& rev = "HEAD");
  // The tip of a branch ("main" or "refs/heads/main"); empty = HEAD.
  Result<Commit> head_of(const std::string& branch);
  // The branch a revision names, as a full ref ("refs/heads/main"): HEAD
  // when it is on a branch, a branch name, or a refs/heads/ ref; "" for a
  // commit id, a tag, a detached HEAD or anything else, and "" when `commit`
  // (40 hex) is neither that branch's tip nor an ancestor of it.
  std::string branch_ref(const std::string& rev, const std::string& commit);
  // Commits reachable from `branch` and not from `since` (empty = all), oldest
  // first (topological, then by time) — what `gantry watch` runs.
  Result<std::vector<Commit>> commits_between(const std::string& branch, const std::string& since);

  // A file's content from the commit's tree. not_found when absent,
  // invalid_input when the path is a directory or a submodule.
  Result<std::string> read_file(const Commit& commit, const std::string& path);

  // Entries of the commit's tree matching `path_or_glob`, sorted by path:
  //  - "" or "." : every entry of the tree (recursively);
  //  - a plain path: that entry; for a directory, the directory entry itself
  //    followed by everything under it;
  //  - a glob ('*' within one path segment, '?' one character, '**' any number
  //    of segments, '[...]' a character class): every matching entry, and for
  //    a matching directory everything under it.
  // A path or glob that matches nothing gives an empty list (not an error).
  // A trailing '/' is ignored ("src/" = "src").
  // with_sizes fills TreeEntry::size; it costs a read of every blob's header
  // (~25 µs each for loose objects), so keys and plans do without it.
  Result<std::vector<TreeEntry>> list(const Commit& commit, const std::string& path_or_glob,
                                      bool with_sizes = false);

  // A blob's bytes by id (40 hex).
  Result<std::string> read_blob(const std::string& oid);

  // The id of the tree at `path` in the commit ("" = root tree); not_found
  // when absent, invalid_input when path is not a directory.
  Result<std::string> tree_id(const Commit& commit, const std::string& path = "");

 private:
  struct Impl;
  explicit GitRepo(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True when `spec` is a URL (scheme:// or scp-like user@host:path) rather than a local path.
bool is_git_url(std::string_view spec);

// True when `text` contains glob characters (*, ?, [).
bool is_glob(std::string_view text);
// Matches a '/'-separated path against a glob as list() does.
bool glob_match(std::string_view pattern, std::string_view path);
// The directories of a glob before its first segment with a wildcard
// ("src/**/*.c" → "src", "*.c" → ""); the whole path when it is no glob.
std::string glob_prefix(std::string_view pattern);

}  // namespace gantry::pipeline
