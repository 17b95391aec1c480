// Resolving a container user ("", "uid[:gid]", "name[:group]") against the
// image's /etc/passwd and /etc/group, as Docker does: numeric ids need no
// entry; a name must exist; supplementary groups come from /etc/group.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace gantry::executor {

struct ResolvedUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary
  std::string home = "/";
};

// passwd/group: the files' contents ("" when absent). 0 or an errno
// (ENOENT: unknown user or group name; EINVAL: malformed spec).
int resolve_user(const std::string& spec, const std::string& passwd, const std::string& group, ResolvedUser& out);

}  // namespace gantry::executor
