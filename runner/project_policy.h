// What a repository's pipeline may do outside its containers, decided by the
// runner's configuration (runner_config.h), never by the pipeline: which
// host directory its exports go into and which registry references its
// promotions may push to (docs/security.md).
//
//   auto access = project_access(config, "/srv/git/app.git");  // project "app"
//   TRY(check_push_allowed("registry.example.com/team/app:1", access));
//   auto target = TRY(open_export_target(access, "releases/app.tar"));
#pragma once

#include <string>

#include "common/error.h"
#include "common/project_name.h"
#include "common/unique_fd.h"
#include "pipeline/loader.h"
#include "pipeline/pipeline.h"
#include "runner/runner_config.h"

namespace gantry::runner {

using gantry::project_for_repository;

struct ProjectAccess {
  std::string project;
  ProjectPolicy policy;      // RunnerConfig::policy_for(project)
  std::string config_shown;  // the runner config, as error messages name it
};

// The policy is keyed by the project the runner derives from the repository
// (derived_project: its remote URL, else its location), never by the
// pipeline's own `project:` key (docs/security.md).
ProjectAccess project_access(const RunnerConfig& config, const std::string& repo_location,
                             const std::string& remote_url = {});

// True when `reference` (host[:port]/repo[:tag][@digest]) lies under one of
// the prefixes, compared on whole components: "localhost:5000/team" allows
// "localhost:5000/team/app:1" and "localhost:5000/team:1", not
// "localhost:5000/teamevil/app" nor "localhost:5001/team/app".
bool push_allowed(const std::string& reference, const std::vector<std::string>& prefixes);

// invalid_input naming the reference, the project and the runner config
// when the project may not push there. No network I/O.
Status check_push_allowed(const std::string& reference, const ProjectAccess& access);

// The push references of environment `env` for the promoted images
// (`{image}` replaced by each name; the reference itself when it has none).
std::vector<std::string> push_targets(const pipeline::EnvironmentDef& env, const std::vector<std::string>& promoted);

// Problems of the pipeline's `export:` and `push:` keys against the
// project's policy, each at its file:line:col: an export without an
// export_dir, a push target outside push_allow.
pipeline::Diagnostics check_project_access(const pipeline::Pipeline& pipeline, const std::vector<std::string>& promoted,
                                           const ProjectAccess& access);

// Where an export is written: the directory of `rel` below the project's
// export_dir (created, never through a symlink), and the last component.
struct ExportTarget {
  UniqueFd dir;       // O_PATH fd of the parent directory inside export_dir
  std::string name;   // last component of rel
  std::string shown;  // export_dir + "/" + rel, for messages
  // A path that reaches dir/name through the fd, never through a symlink
  // of the host ("/proc/self/fd/N/name").
  std::string fd_path() const;
};

// invalid_input when no export_dir is configured, when rel is absolute or
// has a '..' / '.' component, when a component inside export_dir is a
// symlink, or when the target itself is a symlink.
Result<ExportTarget> open_export_target(const ProjectAccess& access, const std::string& rel);

}  // namespace gantry::runner
