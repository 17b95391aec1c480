// Project names: which project a repository belongs to, and what a name may
// look like. Environments, promotion history and runs are kept per project
// (docs/run.md), and the runner's per-project policy is keyed by the name
// derived here from the repository's location (docs/security.md).
#pragma once

#include <optional>
#include <string>

namespace gantry {

// The last component of a repository's URL or path without a trailing
// ".git" ("/srv/git/app.git", "https://host/team/app", "git@host:team/app.git"
// -> "app"); a relative local path is made absolute first ("." -> the
// current directory's name).
std::string project_for_repository(const std::string& repo_location);

// The project derived for a repository: from its remote URL when it has one,
// else from its location (path or URL).
std::string derived_project(const std::string& repo_location, const std::string& remote_url);

// What is wrong with a project name, if anything: 1 to 64 characters of
// [A-Za-z0-9._-], starting with a letter or digit (the names `gantry secret
// --project` takes).
std::optional<std::string> project_name_problem(const std::string& name);

}  // namespace gantry
