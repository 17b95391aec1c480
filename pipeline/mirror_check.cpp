#include "pipeline/mirror_check.h"

#include <sys/stat.h>

#include "common/digest.h"
#include "common/file_util.h"
#include "pipeline/git_handles.h"

namespace gantry::pipeline {

namespace {

constexpr std::size_t kMaxFaultsPerMirror = 20;

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Every ref resolves to an object the mirror holds.
void check_refs(git_repository* repo, git_odb* odb, const std::string& where, std::vector<std::string>& faults) {
  git_reference_iterator* raw_iter = nullptr;
  if (git_reference_iterator_new(&raw_iter, repo) != 0) {
    faults.push_back(where + ": cannot list refs: " + git::last_message());
    return;
  }
  std::unique_ptr<git_reference_iterator, void (*)(git_reference_iterator*)> iter(raw_iter,
                                                                                 git_reference_iterator_free);
  git_reference* raw_ref = nullptr;
  while (git_reference_next(&raw_ref, iter.get()) == 0) {
    git::Reference ref(raw_ref);
    if (git_reference_type(ref.get()) != GIT_REFERENCE_DIRECT) continue;
    const git_oid* oid = git_reference_target(ref.get());
    if (!oid || !git_odb_exists(odb, oid))
      faults.push_back(where + ": ref " + git_reference_name(ref.get()) + " points at missing object " +
                       (oid ? git::oid_hex(oid) : std::string("?")));
  }
}

struct DeepWalk {
  git_odb* odb;
  std::string where;
  std::vector<std::string>* faults;
  std::uint64_t objects = 0;
  std::size_t bad = 0;
};

// Reads one object back; libgit2 verifies its hash (strict hash verification
// is on by default) and fails on a corrupt or truncated one.
int read_back(const git_oid* oid, void* payload) {
  auto* walk = static_cast<DeepWalk*>(payload);
  ++walk->objects;
  git_odb_object* object = nullptr;
  if (git_odb_read(&object, walk->odb, oid) != 0) {
    if (walk->bad++ < kMaxFaultsPerMirror)
      walk->faults->push_back(walk->where + ": object " + git::oid_hex(oid) + " is corrupt: " + git::last_message());
    return 0;
  }
  git_odb_object_free(object);
  return 0;
}

void check_one(const std::string& dir, const std::string& name, bool deep, MirrorCheck& report) {
  const std::string where = "git mirror " + dir;
  git_repository* raw_repo = nullptr;
  if (git_repository_open_bare(&raw_repo, dir.c_str()) != 0) {
    report.faults.push_back(where + ": not a bare git repository: " + git::last_message());
    return;
  }
  git::Repository repo(raw_repo);
  git_remote* raw_remote = nullptr;
  if (git_remote_lookup(&raw_remote, repo.get(), "origin") != 0) {
    report.faults.push_back(where + ": no remote 'origin'");
  } else {
    git::Remote remote(raw_remote);
    const char* url = git_remote_url(remote.get());
    if (!url || Digest::of(url).hex() != name)
      report.faults.push_back(where + ": its origin " + (url ? url : "(none)") +
                              " does not hash to its name (mirrors are named by the sha256 of their URL)");
  }
  git_odb* raw_odb = nullptr;
  if (git_repository_odb(&raw_odb, repo.get()) != 0) {
    report.faults.push_back(where + ": cannot open its object database: " + git::last_message());
    return;
  }
  git::Odb odb(raw_odb);
  check_refs(repo.get(), odb.get(), where, report.faults);
  if (!deep) return;
  DeepWalk walk{odb.get(), where, &report.faults};
  if (git_odb_foreach(odb.get(), read_back, &walk) != 0)
    report.faults.push_back(where + ": cannot list its objects: " + git::last_message());
  report.objects_checked += walk.objects;
}

}  // namespace

Result<MirrorCheck> check_mirrors(const std::string& mirror_root, bool deep) {
  MirrorCheck report;
  if (!is_directory(mirror_root)) return report;
  git::ensure_init();
  for (const std::string& name : TRY(list_dir(mirror_root))) {
    const std::string path = mirror_root + "/" + name;
    // <hex>.lock files, and <hex>.tmp-* dirs of a first fetch in progress (or
    // killed: never renamed into place, so never read).
    if (name.ends_with(".lock") || name.find(".tmp-") != std::string::npos) continue;
    if (!is_directory(path)) {
      report.faults.push_back("git mirror " + path + ": not a directory");
      continue;
    }
    ++report.mirrors_checked;
    check_one(path, name, deep, report);
  }
  return report;
}

}  // namespace gantry::pipeline
