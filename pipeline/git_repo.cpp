#include "pipeline/git_repo.h"

#include <algorithm>
#include <mutex>
#include <optional>

#include "pipeline/git_handles.h"
#include "pipeline/git_mirror.h"

namespace gantry::pipeline {

struct GitRepo::Impl {
  std::mutex mu;
  std::string spec;
  std::string path;
  std::string location;
  std::string mirror_root;
  bool mirror = false;
  git::Repository repo;
};

namespace {

// "src/" → "src", "./src" → "src", "." and "/" → "".
std::string clean_path(std::string_view p) {
  while (p.starts_with("./")) p.remove_prefix(2);
  while (p.starts_with('/')) p.remove_prefix(1);
  while (p.ends_with('/')) p.remove_suffix(1);
  if (p == ".") return "";
  return std::string(p);
}

Commit to_commit(git_commit* c) {
  Commit out;
  out.id = git::oid_hex(git_commit_id(c));
  out.short_id = out.id.substr(0, 12);
  out.time = static_cast<std::int64_t>(git_commit_time(c));
  if (const char* s = git_commit_summary(c)) out.summary = s;
  if (const git_signature* a = git_commit_author(c))
    out.author = std::string(a->name ? a->name : "") + " <" + (a->email ? a->email : "") + ">";
  return out;
}

Result<git::Odb> odb_of(git_repository* repo) {
  git_odb* raw = nullptr;
  int rc = git_repository_odb(&raw, repo);
  if (rc != 0) return fail(git::error(rc, "opening object database"));
  return git::Odb(raw);
}

std::uint64_t blob_size(git_odb* odb, const git_oid* oid) {
  std::size_t size = 0;
  git_object_t type;
  if (git_odb_read_header(&size, &type, odb, oid) != 0) return 0;
  return size;
}

struct WalkState {
  git_odb* odb;  // nullptr: no sizes
  std::string base;  // prefix of every path ("" or "dir/")
  std::vector<TreeEntry>* out;
};

int walk_cb(const char* root, const git_tree_entry* entry, void* payload) {
  auto* st = static_cast<WalkState*>(payload);
  TreeEntry e;
  e.path = st->base + root + git_tree_entry_name(entry);
  e.mode = static_cast<std::uint32_t>(git_tree_entry_filemode(entry));
  e.oid = git::oid_hex(git_tree_entry_id(entry));
  if (st->odb && git_tree_entry_type(entry) == GIT_OBJECT_BLOB) e.size = blob_size(st->odb, git_tree_entry_id(entry));
  st->out->push_back(std::move(e));
  return 0;
}

}  // namespace

GitRepo::GitRepo(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GitRepo::GitRepo(GitRepo&&) noexcept = default;
GitRepo& GitRepo::operator=(GitRepo&&) noexcept = default;
GitRepo::~GitRepo() = default;

const std::string& GitRepo::spec() const { return impl_->spec; }
const std::string& GitRepo::path() const { return impl_->path; }
bool GitRepo::is_mirror() const { return impl_->mirror; }
const std::string& GitRepo::location() const { return impl_->location; }

std::string GitRepo::remote_url() const {
  if (impl_->mirror) return impl_->spec;
  std::lock_guard lock(impl_->mu);
  git_strarray names{};
  if (git_remote_list(&names, impl_->repo.get()) != 0) return "";
  std::string chosen;
  for (std::size_t i = 0; i < names.count; ++i)
    if (chosen.empty() || std::string_view(names.strings[i]) == "origin") chosen = names.strings[i];
  git_strarray_dispose(&names);
  if (chosen.empty()) return "";
  git_remote* raw = nullptr;
  if (git_remote_lookup(&raw, impl_->repo.get(), chosen.c_str()) != 0) return "";
  git::Remote remote(raw);
  const char* url = git_remote_url(remote.get());
  return url ? url : "";
}

bool is_git_url(std::string_view spec) {
  if (spec.find("://") != std::string_view::npos) return true;
  // scp-like "user@host:path" (no '/' before the ':')
  auto colon = spec.find(':');
  auto at = spec.find('@');
  auto slash = spec.find('/');
  return colon != std::string_view::npos && at != std::string_view::npos && at < colon &&
         (slash == std::string_view::npos || slash > colon);
}

Result<GitRepo> GitRepo::open(const std::string& spec, const std::string& mirror_root) {
  git::ensure_init();
  auto impl = std::make_unique<Impl>();
  impl->spec = spec;
  impl->mirror_root = mirror_root;
  git_repository* raw = nullptr;
  if (is_git_url(spec)) {
    impl->mirror = true;
    impl->path = TRY(sync_mirror(spec, mirror_root));
    int rc = git_repository_open_bare(&raw, impl->path.c_str());
    if (rc != 0) return fail(git::error(rc, "opening mirror of " + spec + " at " + impl->path));
  } else {
    // NO_SEARCH: the path itself (or its .git) must be the repository; a
    // subdirectory of a work tree is refused rather than silently widened.
    int rc = git_repository_open_ext(&raw, spec.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr);
    if (rc != 0) {
      if (rc == GIT_ENOTFOUND) return fail(ErrorKind::invalid_input, "not a git repository: " + spec);
      return fail(git::error(rc, "opening git repository " + spec, ErrorKind::invalid_input));
    }
    impl->path = git_repository_path(raw);
    const char* workdir = git_repository_workdir(raw);
    std::string where = workdir ? workdir : impl->path;
    while (where.size() > 1 && where.ends_with('/')) where.pop_back();
    impl->location = where;
  }
  if (impl->mirror) impl->location = spec;
  impl->repo = git::Repository(raw);
  return GitRepo(std::move(impl));
}

Status GitRepo::fetch() {
  if (!impl_->mirror) return {};
  std::lock_guard lock(impl_->mu);
  TRY(sync_mirror(impl_->spec, impl_->mirror_root));
  git_repository* raw = nullptr;
  int rc = git_repository_open_bare(&raw, impl_->path.c_str());
  if (rc != 0) return fail(git::error(rc, "opening mirror of " + impl_->spec + " at " + impl_->path));
  impl_->repo = git::Repository(raw);
  return {};
}

namespace {

Result<git::CommitObj> lookup_rev(git_repository* repo, const std::string& rev, const std::string& spec) {
  git_object* raw = nullptr;
  int rc = git_revparse_single(&raw, repo, rev.c_str());
  if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC || rc == GIT_EUNBORNBRANCH) {
    std::string why = git_repository_head_unborn(repo) == 1 ? " (the repository has no commits)" : "";
    return fail(ErrorKind::not_found, "unknown revision '" + rev + "' in " + spec + why);
  }
  if (rc == GIT_EAMBIGUOUS)
    return fail(ErrorKind::invalid_input, "ambiguous revision '" + rev + "' in " + spec + ": give more hex digits");
  if (rc != 0) return fail(git::error(rc, "resolving revision '" + rev + "' in " + spec, ErrorKind::invalid_input));
  git::Object obj(raw);
  git_object* peeled = nullptr;
  rc = git_object_peel(&peeled, obj.get(), GIT_OBJECT_COMMIT);
  if (rc != 0)
    return fail(ErrorKind::invalid_input, "revision '" + rev + "' in " + spec + " does not name a commit");
  return git::CommitObj(reinterpret_cast<git_commit*>(peeled));
}

Result<git::CommitObj> lookup_commit(git_repository* repo, const Commit& commit) {
  git_oid oid;
  if (git_oid_fromstr(&oid, commit.id.c_str()) != 0)
    return fail(ErrorKind::invalid_input, "invalid commit id '" + commit.id + "'");
  git_commit* raw = nullptr;
  int rc = git_commit_lookup(&raw, repo, &oid);
  if (rc != 0) return fail(git::error(rc, "looking up commit " + commit.id, ErrorKind::not_found));
  return git::CommitObj(raw);
}

Result<git::Tree> tree_of(git_repository* repo, const Commit& commit) {
  git::CommitObj c = TRY(lookup_commit(repo, commit));
  git_tree* raw = nullptr;
  int rc = git_commit_tree(&raw, c.get());
  if (rc != 0) return fail(git::error(rc, "reading the tree of commit " + commit.short_id, ErrorKind::corrupt));
  return git::Tree(raw);
}

// The entry at `path` (non-empty), or nullptr when absent.
Result<git::TreeEntryObj> entry_at(git_tree* tree, const std::string& path, const Commit& commit) {
  git_tree_entry* raw = nullptr;
  int rc = git_tree_entry_bypath(&raw, tree, path.c_str());
  if (rc == GIT_ENOTFOUND) return git::TreeEntryObj(nullptr);
  if (rc != 0) return fail(git::error(rc, "looking up " + path + " in commit " + commit.short_id));
  return git::TreeEntryObj(raw);
}

}  // namespace

Result<Commit> GitRepo::resolve(const std::string& rev) {
  std::lock_guard lock(impl_->mu);
  git::CommitObj c = TRY(lookup_rev(impl_->repo.get(), rev.empty() ? "HEAD" : rev, impl_->spec));
  return to_commit(c.get());
}

Result<Commit> GitRepo::head_of(const std::string& branch) {
  if (branch.empty() || branch == "HEAD") return resolve("HEAD");
  if (branch.starts_with("refs/")) return resolve(branch);
  auto local = resolve("refs/heads/" + branch);
  if (local || local.error().kind() != ErrorKind::not_found) return local;
  auto other = resolve(branch);
  if (other) return other;
  return fail(ErrorKind::not_found, "unknown branch '" + branch + "' in " + impl_->spec);
}

std::string GitRepo::branch_ref(const std::string& rev, const std::string& commit) {
  std::lock_guard lock(impl_->mu);
  git_repository* repo = impl_->repo.get();
  git_reference* raw = nullptr;
  if (rev.empty() || rev == "HEAD") {
    if (git_repository_head(&raw, repo) != 0) return "";
  } else {
    const std::string name = rev.starts_with("refs/heads/") ? rev : "refs/heads/" + rev;
    if (git_reference_lookup(&raw, repo, name.c_str()) != 0) return "";
  }
  git::Reference ref(raw);
  if (!git_reference_is_branch(ref.get())) return "";
  git_oid tip, wanted;
  if (git_reference_name_to_id(&tip, repo, git_reference_name(ref.get())) != 0 ||
      git_oid_fromstr(&wanted, commit.c_str()) != 0)
    return "";
  if (!git_oid_equal(&tip, &wanted) && git_graph_descendant_of(repo, &tip, &wanted) != 1) return "";
  return git_reference_name(ref.get());
}

Result<std::vector<Commit>> GitRepo::commits_between(const std::string& branch, const std::string& since) {
  Commit tip = TRY(head_of(branch));
  std::optional<Commit> base;
  if (!since.empty()) base = TRY(resolve(since));
  std::lock_guard lock(impl_->mu);
  git_repository* repo = impl_->repo.get();
  git_revwalk* raw = nullptr;
  int rc = git_revwalk_new(&raw, repo);
  if (rc != 0) return fail(git::error(rc, "walking " + branch));
  git::Revwalk walk(raw);
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME | GIT_SORT_REVERSE);
  git_oid oid;
  git_oid_fromstr(&oid, tip.id.c_str());
  if ((rc = git_revwalk_push(walk.get(), &oid)) != 0) return fail(git::error(rc, "walking " + branch));
  if (base) {
    git_oid_fromstr(&oid, base->id.c_str());
    if ((rc = git_revwalk_hide(walk.get(), &oid)) != 0) return fail(git::error(rc, "walking " + branch));
  }
  std::vector<Commit> out;
  while ((rc = git_revwalk_next(&oid, walk.get())) == 0) {
    git_commit* c = nullptr;
    if ((rc = git_commit_lookup(&c, repo, &oid)) != 0) return fail(git::error(rc, "walking " + branch));
    git::CommitObj owned(c);
    out.push_back(to_commit(c));
  }
  if (rc != GIT_ITEROVER) return fail(git::error(rc, "walking " + branch));
  return out;
}

Result<std::string> GitRepo::read_file(const Commit& commit, const std::string& path) {
  std::lock_guard lock(impl_->mu);
  git_repository* repo = impl_->repo.get();
  std::string p = clean_path(path);
  git::Tree tree = TRY(tree_of(repo, commit));
  if (p.empty()) return fail(ErrorKind::invalid_input, "cannot read the root directory as a file");
  git::TreeEntryObj entry = TRY(entry_at(tree.get(), p, commit));
  if (!entry) return fail(ErrorKind::not_found, "no file '" + p + "' in commit " + commit.short_id);
  if (git_tree_entry_type(entry.get()) != GIT_OBJECT_BLOB)
    return fail(ErrorKind::invalid_input, "'" + p + "' in commit " + commit.short_id + " is not a file");
  git_blob* raw = nullptr;
  int rc = git_blob_lookup(&raw, repo, git_tree_entry_id(entry.get()));
  if (rc != 0) return fail(git::error(rc, "reading " + p + " in commit " + commit.short_id, ErrorKind::corrupt));
  git::Blob blob(raw);
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<std::size_t>(git_blob_rawsize(blob.get())));
}

Result<std::string> GitRepo::read_blob(const std::string& oid_hex) {
  std::lock_guard lock(impl_->mu);
  git_oid oid;
  if (oid_hex.size() != GIT_OID_HEXSZ || git_oid_fromstr(&oid, oid_hex.c_str()) != 0)
    return fail(ErrorKind::invalid_input, "invalid blob id '" + oid_hex + "': expected 40 hex digits");
  git_blob* raw = nullptr;
  int rc = git_blob_lookup(&raw, impl_->repo.get(), &oid);
  if (rc != 0) return fail(git::error(rc, "reading blob " + oid_hex, ErrorKind::not_found));
  git::Blob blob(raw);
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<std::size_t>(git_blob_rawsize(blob.get())));
}

Result<std::string> GitRepo::tree_id(const Commit& commit, const std::string& path) {
  std::lock_guard lock(impl_->mu);
  git::Tree tree = TRY(tree_of(impl_->repo.get(), commit));
  std::string p = clean_path(path);
  if (p.empty()) return git::oid_hex(git_tree_id(tree.get()));
  git::TreeEntryObj entry = TRY(entry_at(tree.get(), p, commit));
  if (!entry) return fail(ErrorKind::not_found, "no directory '" + p + "' in commit " + commit.short_id);
  if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE)
    return fail(ErrorKind::invalid_input, "'" + p + "' in commit " + commit.short_id + " is not a directory");
  return git::oid_hex(git_tree_entry_id(entry.get()));
}

Result<std::vector<TreeEntry>> GitRepo::list(const Commit& commit, const std::string& path_or_glob,
                                             bool with_sizes) {
  std::lock_guard lock(impl_->mu);
  git_repository* repo = impl_->repo.get();
  git::Tree root = TRY(tree_of(repo, commit));
  git::Odb odb;
  if (with_sizes) odb = TRY(odb_of(repo));
  std::string pattern = clean_path(path_or_glob);
  std::vector<TreeEntry> out;

  // Walks the subtree at `dir` ("" = root) into `all`.
  auto walk = [&](const std::string& dir, std::vector<TreeEntry>& all) -> Status {
    git::Tree sub;
    git_tree* tree = root.get();
    if (!dir.empty()) {
      git::TreeEntryObj entry = TRY(entry_at(root.get(), dir, commit));
      if (!entry || git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) return {};
      git_tree* raw = nullptr;
      int rc = git_tree_lookup(&raw, repo, git_tree_entry_id(entry.get()));
      if (rc != 0) return fail(git::error(rc, "reading tree " + dir, ErrorKind::corrupt));
      sub = git::Tree(raw);
      tree = sub.get();
    }
    WalkState st{odb.get(), dir.empty() ? "" : dir + "/", &all};
    int rc = git_tree_walk(tree, GIT_TREEWALK_PRE, walk_cb, &st);
    if (rc != 0) return fail(git::error(rc, "walking tree of commit " + commit.short_id, ErrorKind::corrupt));
    return {};
  };

  if (pattern.empty()) {
    TRY(walk("", out));
  } else if (!is_glob(pattern)) {
    git::TreeEntryObj entry = TRY(entry_at(root.get(), pattern, commit));
    if (!entry) return out;
    TreeEntry e;
    e.path = pattern;
    e.mode = static_cast<std::uint32_t>(git_tree_entry_filemode(entry.get()));
    e.oid = git::oid_hex(git_tree_entry_id(entry.get()));
    if (odb && git_tree_entry_type(entry.get()) == GIT_OBJECT_BLOB)
      e.size = blob_size(odb.get(), git_tree_entry_id(entry.get()));
    bool dir = e.is_dir();
    out.push_back(std::move(e));
    if (dir) TRY(walk(pattern, out));
  } else {
    std::vector<TreeEntry> all;
    TRY(walk(glob_prefix(pattern), all));
    std::string matched_dir;  // entries under it are included (preorder walk)
    for (auto& e : all) {
      bool under = !matched_dir.empty() && e.path.size() > matched_dir.size() &&
                   e.path.starts_with(matched_dir) && e.path[matched_dir.size()] == '/';
      if (under || glob_match(pattern, e.path)) {
        if (!under && e.is_dir()) matched_dir = e.path;
        out.push_back(std::move(e));
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
  return out;
}

}  // namespace gantry::pipeline
